/*
 * The C reference of pulso's benchmarks: the practical limit of a libpcap program that does
 * pulso's job. It opens a capture file, installs the BPF program it is given (pulso's own
 * filter), and for every packet that passes decodes the link, network and TCP headers like
 * pulso does (Ethernet with 802.1Q/802.1ad tags, IPv4, IPv6 with extension headers), and counts
 * the connection attempts (SYN set, ACK clear) per source address and destination port in an
 * open-addressing hash table.
 *
 * Output, for the benchmark script to compare with pulso's digest: one line per pair,
 * "SOURCE PORT COUNT" (IPv6 sources in inet_ntop form), in no particular order; then on stderr
 * "packets N events E".
 *
 * Build: gcc -O2 -o c_loop c_loop.c -lpcap
 * Usage: c_loop FILE FILTER
 */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
  uint8_t address[16];
  uint16_t port;
  uint8_t family; /* 0: free, 4 or 6 */
  uint64_t count;
};

static struct slot *table;
static size_t mask = 1023, used;
static uint64_t packets, events;

static uint32_t hash(const uint8_t *a, uint16_t port, uint8_t family) {
  uint32_t h = 2166136261u ^ ((uint32_t)family << 16 | port);
  for (int i = 0; i < 16; i++) h = (h ^ a[i]) * 16777619u;
  return h ^ (h >> 15);
}

static void grow(void);

static void add(const uint8_t *address, uint8_t family, uint16_t port) {
  events++;
  size_t i = hash(address, port, family) & mask;
  for (;;) {
    struct slot *s = &table[i];
    if (s->family == 0) break;
    if (s->family == family && s->port == port && memcmp(s->address, address, 16) == 0) {
      s->count++;
      return;
    }
    i = (i + 1) & mask;
  }
  memcpy(table[i].address, address, 16);
  table[i].port = port;
  table[i].family = family;
  table[i].count = 1;
  if (++used * 2 > mask) grow();
}

static void grow(void) {
  struct slot *old = table;
  size_t old_size = mask + 1;
  mask = old_size * 2 - 1;
  table = calloc(mask + 1, sizeof *table);
  if (!table) {
    perror("calloc");
    exit(1);
  }
  for (size_t o = 0; o < old_size; o++) {
    if (old[o].family == 0) continue;
    size_t i = hash(old[o].address, old[o].port, old[o].family) & mask;
    while (table[i].family != 0) i = (i + 1) & mask;
    table[i] = old[o];
  }
  free(old);
}

static int syn(const u_char *tcp) { return (tcp[13] & 0x12) == 0x02; }

static void ipv4(const u_char *p, size_t length) {
  if (length < 20 || p[0] >> 4 != 4) return;
  size_t ihl = (size_t)(p[0] & 0x0f) << 2, total = (size_t)p[2] << 8 | p[3];
  if (ihl < 20 || total < ihl || p[9] != 6) return;
  if (((p[6] & 0x1f) << 8 | p[7]) != 0) return; /* non-first fragment */
  if (total > length) total = length;
  if (ihl + 20 > total) return;
  const u_char *tcp = p + ihl;
  if (!syn(tcp)) return;
  uint8_t address[16] = {0};
  memcpy(address, p + 12, 4);
  add(address, 4, (uint16_t)(tcp[2] << 8 | tcp[3]));
}

static void ipv6(const u_char *p, size_t length) {
  if (length < 40 || p[0] >> 4 != 6) return;
  size_t payload = (size_t)p[4] << 8 | p[5];
  size_t end = payload == 0 ? length : 40 + payload;
  if (end > length) end = length;
  unsigned next = p[6];
  size_t at = 40;
  while (next != 6) {
    if (at + 8 > end) return;
    if (next == 0 || next == 43 || next == 60) {
      next = p[at];
      at += ((size_t)p[at + 1] + 1) << 3;
    } else if (next == 44) {
      if ((((unsigned)p[at + 2] << 8 | p[at + 3]) & 0xfff8) != 0) return;
      next = p[at];
      at += 8;
    } else if (next == 51) {
      next = p[at];
      at += ((size_t)p[at + 1] + 2) << 2;
    } else {
      return;
    }
  }
  if (at + 20 > end) return;
  const u_char *tcp = p + at;
  if (!syn(tcp)) return;
  add(p + 8, 6, (uint16_t)(tcp[2] << 8 | tcp[3]));
}

static void packet(u_char *user, const struct pcap_pkthdr *h, const u_char *p) {
  (void)user;
  packets++;
  size_t length = h->caplen, at = 12;
  if (length < 14) return;
  unsigned type = (unsigned)p[at] << 8 | p[at + 1];
  at += 2;
  while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
    if (at + 4 > length) return;
    type = (unsigned)p[at + 2] << 8 | p[at + 3];
    at += 4;
  }
  if (type == 0x0800) ipv4(p + at, length - at);
  else if (type == 0x86dd) ipv6(p + at, length - at);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s FILE FILTER\n", argv[0]);
    return 2;
  }
  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t *pcap = pcap_open_offline(argv[1], errbuf);
  if (!pcap) {
    fprintf(stderr, "c_loop: %s\n", errbuf);
    return 1;
  }
  if (pcap_datalink(pcap) != DLT_EN10MB) {
    fprintf(stderr, "c_loop: only Ethernet captures are supported\n");
    return 1;
  }
  struct bpf_program program;
  if (pcap_compile(pcap, &program, argv[2], 1, PCAP_NETMASK_UNKNOWN) != 0 ||
      pcap_setfilter(pcap, &program) != 0) {
    fprintf(stderr, "c_loop: %s\n", pcap_geterr(pcap));
    return 1;
  }
  pcap_freecode(&program);
  table = calloc(mask + 1, sizeof *table);
  if (!table) return 1;
  if (pcap_loop(pcap, -1, packet, NULL) == -1) {
    fprintf(stderr, "c_loop: %s\n", pcap_geterr(pcap));
    return 1;
  }
  pcap_close(pcap);
  char text[INET6_ADDRSTRLEN];
  for (size_t i = 0; i <= mask; i++) {
    struct slot *s = &table[i];
    if (s->family == 0) continue;
    inet_ntop(s->family == 4 ? AF_INET : AF_INET6, s->address, text, sizeof text);
    printf("%s %u %llu\n", text, s->port, (unsigned long long)s->count);
  }
  fprintf(stderr, "packets %llu events %llu\n", (unsigned long long)packets,
          (unsigned long long)events);
  return 0;
}
