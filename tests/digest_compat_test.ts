/**
 * Digests within the bounds and without --top are byte for byte what pulso printed before the
 * digest said which sources it vouches for and gave `other:` its ports (issue 17): outputs of
 * every corpus file with events, and of a flood of 20 003 sources within the default bounds,
 * against their SHA-256 (first 16 digits) taken from the pulso of commit 89bfd32; a few in full.
 */
import assert from "node:assert/strict";
import { CORPUS, pulso } from "./_pulso.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** Per file: text (hashed), JSON (--no-hash), -i 0.5 text (--no-hash), -i 1 JSON (hashed). */
const EXPECTED: Record<string, [string, string, string, string]> = {
  "flood": ["a9120a8b34a0e800", "1a95be71c774aa05", "8aebf9af91e4d545", "8d70e2606fe37273"],
  "lab/any_sll.pcap": [
    "7f0aacd0c91875ec",
    "78f2b262cefe003a",
    "1946a8b587b36fdc",
    "49bb5c9bbf6ef67e",
  ],
  "lab/any_sll2.pcap": [
    "7f0aacd0c91875ec",
    "78f2b262cefe003a",
    "1946a8b587b36fdc",
    "49bb5c9bbf6ef67e",
  ],
  "lab/any_sll2.pcapng": [
    "7f0aacd0c91875ec",
    "78f2b262cefe003a",
    "1946a8b587b36fdc",
    "49bb5c9bbf6ef67e",
  ],
  "lab/pc1_eth.pcap": [
    "6f0f84adad888b60",
    "44554567d7e13fb2",
    "44b524a607f3b887",
    "fcaaaf60a2471eb9",
  ],
  "lab/pc2_eth.pcap": [
    "28f98b03248cd0b8",
    "69976232aae5cadf",
    "d544a4fd727ad092",
    "b37818d6cb56d31d",
  ],
  "lab/pc2_qinq.pcap": [
    "28f98b03248cd0b8",
    "69976232aae5cadf",
    "d544a4fd727ad092",
    "b37818d6cb56d31d",
  ],
  "lab/pc2_vlan.pcap": [
    "28f98b03248cd0b8",
    "69976232aae5cadf",
    "d544a4fd727ad092",
    "b37818d6cb56d31d",
  ],
  "lab/truncated.pcap": [
    "d97810dc40a71756",
    "a26ae51675239664",
    "949dc9c9a4f1c758",
    "da74aaf859be232d",
  ],
  "lab/v6ext.pcap": [
    "0ac9858a73cce367",
    "0008badac2a2c01d",
    "c947bae0ef02e3f8",
    "65deba52ba2540c2",
  ],
  "tcpdump/accecn_handshake.pcap": [
    "de5fe85e67bfe378",
    "e92dffd7c742bc6e",
    "3641264ac0f9889b",
    "e8eb73378af7ff68",
  ],
  "tcpdump/bgp-4byte-asn.pcap": [
    "459084547c402d47",
    "cfe38d598fadc5c5",
    "b1277e10cee63c20",
    "46b0722e53b2b83a",
  ],
  "tcpdump/bgp-bfd-cease.pcap": [
    "d9f93be18522d583",
    "ffa26a0e623fbe69",
    "4a674fb94fea31a0",
    "654b21aeba507363",
  ],
  "tcpdump/bgp-bgp_capabilities_print-oobr-1.pcap": [
    "d2b6553248cc07cc",
    "98faf58561164376",
    "2832c8c773046dd2",
    "9e830b5570de1201",
  ],
  "tcpdump/bgp-bgp_capabilities_print-oobr-2.pcap": [
    "d2b6553248cc07cc",
    "98faf58561164376",
    "2832c8c773046dd2",
    "9e830b5570de1201",
  ],
  "tcpdump/bgp-bgpsec.pcap": [
    "0d423e0a7a0794bc",
    "909e95fd1ed54a16",
    "f0116186cf949d02",
    "34930c7950cc7ebe",
  ],
  "tcpdump/bgp-lu-multiple-labels.pcap": [
    "4de01a23059b0054",
    "b6515606459b8587",
    "2f320f0ce91dfbbd",
    "8e00f7faa94b75b6",
  ],
  "tcpdump/bgp-shutdown-msg-variations.pcap": [
    "3b5a97a18adb0c1d",
    "6970bc4dd076ea56",
    "3a6345e0eaf058f8",
    "ceca09a65ff80a91",
  ],
  "tcpdump/bgp-ub.pcap": [
    "d9f93be18522d583",
    "5cb8998752dc79ed",
    "f9870f44cb07eac9",
    "abcfb8c58804eb05",
  ],
  "tcpdump/dns_tcp.pcap": [
    "282bf536b62078cb",
    "146aace4ded116d3",
    "5c773d94e98fe2c2",
    "d9533d31722cd046",
  ],
  "tcpdump/dns_tcp_8053.pcap": [
    "b0949a0946cbb865",
    "e1b4d9d4a41dd3ec",
    "642a0336dff93dc8",
    "0ca2b4ae5865f500",
  ],
  "tcpdump/ldp-common-session.pcap": [
    "a42d4e0d1ecf9351",
    "9634fc12430d9428",
    "b68f0e09c3cefa25",
    "ad66bd00074e0334",
  ],
  "tcpdump/mptcp-aa-v1.pcap": [
    "7126157ddebb08cd",
    "da241feac50ef4d2",
    "cc983c29645b38f9",
    "87a293f979cce794",
  ],
  "tcpdump/mptcp-dss-oobr.pcap": [
    "c6c8ebdceaa46134",
    "55e80345f9aa3d68",
    "6fdbf2eb1874b71b",
    "45b85ad086f202d3",
  ],
  "tcpdump/mptcp-fclose.pcap": [
    "7db2168177f7b495",
    "fafd950894455199",
    "5b3fee52d0b37967",
    "2d90d930a1985d0b",
  ],
  "tcpdump/mptcp-v0.pcap": [
    "cf31db8ab152ab22",
    "fd4e69c94f07f870",
    "0c6fb40db1de2f56",
    "ddcc68da973fa08a",
  ],
  "tcpdump/mptcp-v1.pcap": [
    "68f4b4f53de05b3c",
    "d147d3aa4b0f1ba8",
    "d6e08afae76a4192",
    "5c77214d9a081e19",
  ],
  "tcpdump/of10_7050sx_bsn.pcap": [
    "783287679f15fcc6",
    "121b467eec671f88",
    "17fa9ef350d6912b",
    "02b5caa547ab99d2",
  ],
  "tcpdump/of10_p3295.pcap": [
    "5c17a46c9a67ddaf",
    "3027df92f8bc3d07",
    "309cde7d0f8794e8",
    "0a566b8d636ba30a",
  ],
  "tcpdump/of10_pf5240.pcap": [
    "7e421c15ecd94f9d",
    "eb5bed19b23742a8",
    "4747d3a5f74736a9",
    "dea08f689658ce3b",
  ],
  "tcpdump/of10_s4810.pcap": [
    "d9dc0384b3613ba4",
    "aabf88e9ab5b9d51",
    "cfa175d9e59ca73b",
    "fbaa191e71add0e3",
  ],
  "tcpdump/of13_ericsson.pcapng": [
    "58ec0cf0fa82ad23",
    "668be18b303553bd",
    "cb7b6fedcd880134",
    "2576bdd9a576c417",
  ],
  "tcpdump/pptp.pcap": [
    "eb3bdb46dbf2516f",
    "d2012e8d5f0def0b",
    "569418ebd67fe102",
    "788036868cf3a79a",
  ],
  "tcpdump/print-flags.pcap": [
    "b9ff9ffc90dcda14",
    "7844efca70c80b22",
    "5217a896bd3614c3",
    "ea6fe1bcfe027063",
  ],
  "tcpdump/resp_1_benchmark.pcap": [
    "966914eb267655ee",
    "7c46df08184d00b5",
    "1db0f6c326337524",
    "a7a8dc6ecacf96ab",
  ],
  "tcpdump/resp_2_inline.pcap": [
    "3745d9fb79109c8e",
    "a322243c88939528",
    "4894999f838b4a92",
    "170a574aa60c7df3",
  ],
  "tcpdump/resp_3_malicious.pcap": [
    "17e0fec998609203",
    "1e03ac6d59815b11",
    "35b47a1cb3794d6e",
    "ded7a592ab931a50",
  ],
  "tcpdump/scps_invalid.pcap": [
    "7a6ffe72e05d472c",
    "e15a366ea7a69e43",
    "103d270e38fa4bf3",
    "880d59571a9f8f0a",
  ],
  "tcpdump/ssh.pcap": [
    "1a60d72fe4bd6ea8",
    "fc2d4eca94fef92a",
    "776597239e0c55a7",
    "7f60a48fb558521e",
  ],
  "tcpdump/tcp-handshake-nano.pcap": [
    "6fb74b4f565a198a",
    "a209dc583197d132",
    "a2b9a3d1f6972721",
    "a48bc72cbe9555bc",
  ],
  "tcpdump/tfo-5c1fa7f9ae91.pcap": [
    "b125ff38bfd75203",
    "5662e7eb3130baf8",
    "86df4b2a92b54096",
    "ce8e95a1e3644e07",
  ],
  "tcpdump/timestamp_invalid_micro.pcap": [
    "6fb74b4f565a198a",
    "7b9ab746ea1f1c9b",
    "d86679a41df50ce1",
    "a4c0a5412d6542df",
  ],
  "tcpdump/timestamp_invalid_nano.pcap": [
    "6fb74b4f565a198a",
    "7b9ab746ea1f1c9b",
    "d86679a41df50ce1",
    "a4c0a5412d6542df",
  ],
  "tcpdump/whois.pcap": [
    "8ce61ea0be02edb4",
    "7cd17c230d575ea2",
    "22e7786d98e21fb8",
    "4f656164fa7b80e0",
  ],
  "tcpdump/zmtp1.pcap": [
    "e05be470390468ef",
    "02828fabab8013b1",
    "6bebce8b197a0cdf",
    "d6e2646e65fbed34",
  ],
};

const MODES: string[][] = [
  [],
  ["--no-hash", "--format", "json"],
  ["--no-hash", "-i", "0.5"],
  ["-i", "1", "--format", "json"],
];

async function sha(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest).slice(0, 8)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

Deno.test("exact digests are unchanged, byte for byte: a few in full", async () => {
  const pc2 = await pulso(["-r", `${CORPUS}lab/pc2_eth.pcap`]);
  assert.equal(
    pc2.stdout,
    "a93c2d8e61d33d9a:48 443:4 20791:3 " +
      Array.from({ length: 40 }, (_, i) => `${i + 1}:1`).join(" ") + " 25305:1\n" +
      "c2ebab9eda0cd592:4 25305:3 26468:1\n",
  );
  const v6 = await pulso(["-r", `${CORPUS}lab/v6ext.pcap`, "--no-hash", "--format", "json"]);
  assert.equal(
    v6.stdout,
    '{"start":"2026-11-30T19:16:45.342Z","end":"2026-11-30T19:16:45.342Z","connections":2,' +
      '"sources":[{"source":"::1","connections":2,"error":0,"untracked":0,"ports":[{"port":48035,' +
      '"connections":2,"error":0}]}],"untracked":0,"distinctSources":1,"distinctSourcesExact":true,' +
      '"exact":true,"packets":6,"malformed":0}\n',
  );
  const pc1 = await pulso(["-r", `${CORPUS}lab/pc1_eth.pcap`, "--no-hash", "-i", "0.5"]);
  assert.equal(
    pc1.stdout,
    "# 2026-11-30T19:16:22.562Z 2026-11-30T19:16:22.829Z connections=23 sources=2 malformed=0\n" +
      "10.99.100.2:13 22471:6 26468:4 25305:3\n" +
      "[fd99:100::2]:10 20791:4 22471:4 25305:2\n",
  );
});

Deno.test("exact digests are unchanged, byte for byte: every corpus file with events, a flood", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const flood = `${dir}/flood.pcap`;
    const gen = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--allow-write",
        "scripts/gen_flood.ts",
        flood,
        "60000",
        "20000",
        "3",
      ],
      cwd: ROOT,
    }).output();
    assert.equal(gen.code, 0, new TextDecoder().decode(gen.stderr));
    const jobs: [string, number][] = [];
    for (const file of Object.keys(EXPECTED)) {
      for (let m = 0; m < MODES.length; m++) jobs.push([file, m]);
    }
    const failures: string[] = [];
    // A few at a time: each run is a Deno process.
    for (let i = 0; i < jobs.length; i += 8) {
      await Promise.all(
        jobs.slice(i, i + 8).map(async ([file, m]) => {
          const path = file === "flood" ? flood : `${CORPUS}${file}`;
          const run = await pulso(["-r", path, ...MODES[m]]);
          const got = await sha(run.stdout);
          if (got !== EXPECTED[file][m]) {
            failures.push(`${file} ${MODES[m].join(" ")}: ${got}, want ${EXPECTED[file][m]}`);
          }
        }),
      );
    }
    assert.deepEqual(failures, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
