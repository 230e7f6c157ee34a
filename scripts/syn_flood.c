/*
 * syn_flood: the benchmark's SYN generator. Writes Ethernet frames holding TCP SYNs (IPv4, or
 * IPv4 and IPv6 mixed) onto a network interface through an AF_PACKET socket, in sendmmsg(2)
 * batches, paced by a token bucket, from many source addresses. Meant for the lo of a private
 * network namespace (the benchmark makes one): the TCP checksum is left at zero, so the stack
 * drops every SYN silently and nothing answers.
 *
 * Usage: syn_flood [OPTIONS] IFACE RATE SECONDS [SOURCES] [PORT] [ON_MS OFF_MS]
 *   RATE     SYNs per second (0: as fast as it can)
 *   SOURCES  distinct IPv4 source addresses, from 127.1.0.1 up, in turn (default 4096)
 *   PORT     destination port on 127.0.0.1 (and ::1) (default 9999)
 *   ON_MS OFF_MS  pulses: send for ON_MS, pause for OFF_MS, repeat (default: no pauses)
 * Options (spoofed floods):
 *   --sources N     N distinct sources (instead of SOURCES), in the order of a bijection of a
 *                   counter: every one of the N appears once before any repeats
 *   --mix SHARE     the share of the N sources that are IPv4 (default 1); the others are IPv6,
 *                   fd70:756c:0:2::/64, to ::1; the families interleave
 *   --heavy K       K more sources (127.0.100.1 up; with --mix < 1, every other one IPv6 in
 *                   fd70:756c:0:1::/64), each sending a share of the flood, in turn
 *   --heavy-share S the share of the flood each heavy source sends (default 0.01)
 * Prints "sent N" on stdout at the end, then "heavy H" (the SYNs of the heavy sources) with
 * --heavy.
 *
 * Build: gcc -O2 -Wall -Wextra -o syn_flood syn_flood.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define FRAME4 54 /* Ethernet 14 + IPv4 20 + TCP 20 */
#define FRAME6 74 /* Ethernet 14 + IPv6 40 + TCP 20 */
/* IPv4 sources from 127.1.0.1 up stay in 127.0.0.0/8. */
#define MAX_V4 ((1u << 24) - (1u << 16) - 2)

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static uint16_t checksum(const uint8_t *p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* xorshift32 */
static uint32_t state = 0x9e3779b9;
static uint32_t next_random(void) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

static uint64_t gcd(uint64_t a, uint64_t b) {
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* The IPv6 source prefixes: fd70:756c:0:1::/64 (heavy) and fd70:756c:0:2::/64 (the others). */
static const uint8_t V6_PREFIX[6] = {0xfd, 0x70, 0x75, 0x6c, 0, 0};

static void usage(const char *self) {
  fprintf(stderr,
          "usage: %s [--sources N] [--mix SHARE] [--heavy K] [--heavy-share S] IFACE RATE "
          "SECONDS [SOURCES] [PORT] [ON_MS OFF_MS]\n",
          self);
}

/* Fills frame `f` with a SYN from an IPv4 source (host order) or an IPv6 one (subnet, id). */
static size_t fill(uint8_t *f, uint64_t n, int v6, uint32_t v4_source, uint16_t subnet,
                   uint32_t id, uint16_t port) {
  uint8_t *tcp;
  if (!v6) {
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    ip[2] = 0;
    ip[3] = 40;
    ip[4] = (uint8_t)(n >> 8);
    ip[5] = (uint8_t)n;
    ip[6] = 0x40; /* DF */
    ip[7] = 0;
    ip[8] = 64;
    ip[9] = 6;
    ip[12] = (uint8_t)(v4_source >> 24);
    ip[13] = (uint8_t)(v4_source >> 16);
    ip[14] = (uint8_t)(v4_source >> 8);
    ip[15] = (uint8_t)v4_source;
    ip[16] = 127; /* 127.0.0.1 */
    ip[17] = 0;
    ip[18] = 0;
    ip[19] = 1;
    ip[10] = ip[11] = 0;
    uint16_t sum = checksum(ip, 20);
    ip[10] = (uint8_t)(sum >> 8);
    ip[11] = (uint8_t)sum;
    tcp = ip + 20;
  } else {
    f[12] = 0x86;
    f[13] = 0xdd;
    uint8_t *ip = f + 14;
    memset(ip, 0, 40);
    ip[0] = 0x60;
    ip[5] = 20; /* payload length */
    ip[6] = 6;  /* TCP */
    ip[7] = 64;
    memcpy(ip + 8, V6_PREFIX, 6);
    ip[14] = (uint8_t)(subnet >> 8);
    ip[15] = (uint8_t)subnet;
    ip[20] = (uint8_t)(id >> 24);
    ip[21] = (uint8_t)(id >> 16);
    ip[22] = (uint8_t)(id >> 8);
    ip[23] = (uint8_t)id;
    ip[39] = 1; /* ::1 */
    tcp = ip + 40;
  }
  memset(tcp, 0, 20);
  tcp[2] = (uint8_t)(port >> 8);
  tcp[3] = (uint8_t)port;
  tcp[12] = 5 << 4;
  tcp[13] = 0x02; /* SYN */
  tcp[14] = 0xfa;
  tcp[15] = 0xf0;
  uint32_t r = next_random();
  tcp[0] = (uint8_t)(0x80 | (r >> 25));
  tcp[1] = (uint8_t)(r >> 17);
  memcpy(tcp + 4, &r, 4);
  return v6 ? FRAME6 : FRAME4;
}

int main(int argc, char **argv) {
  uint64_t spoofed = 0; /* --sources */
  double mix = 1, heavy_share = 0.01;
  uint32_t heavy = 0;
  static const struct option long_options[] = {
      {"sources", required_argument, NULL, 's'},
      {"mix", required_argument, NULL, 'm'},
      {"heavy", required_argument, NULL, 'k'},
      {"heavy-share", required_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  for (int c; (c = getopt_long(argc, argv, "+", long_options, NULL)) != -1;) {
    char *end = NULL;
    switch (c) {
    case 's':
      spoofed = strtoull(optarg, &end, 10);
      break;
    case 'm':
      mix = strtod(optarg, &end);
      break;
    case 'k':
      heavy = (uint32_t)strtoul(optarg, &end, 10);
      break;
    case 'h':
      heavy_share = strtod(optarg, &end);
      break;
    default:
      usage(argv[0]);
      return 2;
    }
    if (end == optarg || *end != '\0') {
      fprintf(stderr, "syn_flood: bad value '%s'\n", optarg);
      return 2;
    }
  }
  int args = argc - optind;
  char **arg = argv + optind;
  if (args < 3 || args == 6 || args > 7) {
    usage(argv[0]);
    return 2;
  }
  const char *iface = arg[0];
  double rate = atof(arg[1]);
  double seconds = atof(arg[2]);
  uint64_t sources = args > 3 ? strtoul(arg[3], NULL, 10) : 4096;
  uint16_t port = args > 4 ? (uint16_t)atoi(arg[4]) : 9999;
  double on = args > 6 ? atof(arg[5]) / 1000 : 0;
  double off = args > 6 ? atof(arg[6]) / 1000 : 0;
  if (sources == 0 || sources > (1u << 24) || seconds <= 0 || rate < 0) {
    fprintf(stderr, "syn_flood: bad arguments\n");
    return 2;
  }
  if (spoofed > 0) sources = spoofed;
  /* The first v4 of the sources (in index order) are IPv4, the rest IPv6. */
  uint64_t v4 = (uint64_t)(mix * (double)sources + 0.5);
  if (mix < 0 || mix > 1 || (spoofed > 0 && v4 > MAX_V4) || sources - v4 >= (1ull << 32) ||
      heavy > 65534 ||
      heavy_share <= 0 || heavy * heavy_share > 0.5) {
    fprintf(stderr, "syn_flood: bad options (--mix 0 to 1, at most %u IPv4 and 2^32 IPv6 "
                    "sources, heavy sources sending at most half of the flood)\n",
            MAX_V4);
    return 2;
  }
  /* The bijection: index i of the counter's pass is source (step * i + offset) mod sources,
     step coprime with sources. Without --sources, the sources in turn, as always. */
  uint64_t step = 1, offset = 0;
  if (spoofed > 0 && sources > 2) {
    step = (uint64_t)((double)sources * 0.6180339887) | 1;
    while (gcd(step, sources) != 1) step += 2;
    offset = sources / 3;
  }
  double heavy_rate = heavy * heavy_share; /* the share of frames that are heavy */

  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
  if (fd < 0) {
    perror("syn_flood: socket");
    return 1;
  }
  struct sockaddr_ll addr = {0};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_IP);
  addr.sll_ifindex = (int)if_nametoindex(iface);
  if (addr.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("syn_flood: interface");
    return 1;
  }
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);

  static uint8_t frames[BATCH][FRAME6];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    uint8_t *f = frames[i];
    memset(f, 0, FRAME6);
    iov[i].iov_base = f;
    iov[i].iov_len = FRAME4;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  uint64_t sent = 0, n = 0, heavy_sent = 0;
  double start = now(), end = start + seconds;
  double active = 0; /* seconds spent sending, for the token bucket */
  double last = start;
  for (;;) {
    double t = now();
    if (t >= end) break;
    int sending = 1;
    if (on > 0) {
      double phase = (t - start) - (on + off) * (uint64_t)((t - start) / (on + off));
      sending = phase < on;
    }
    if (sending) active += t - last;
    last = t;
    if (!sending) {
      struct timespec pause = {0, 200000};
      nanosleep(&pause, NULL);
      continue;
    }
    int batch = BATCH;
    if (rate > 0) {
      double allowed = rate * active - (double)sent;
      if (allowed < 1) {
        double wait = (1 - allowed) / rate;
        if (wait > 0.0005) wait = 0.0005;
        struct timespec pause = {0, (long)(wait * 1e9)};
        nanosleep(&pause, NULL);
        continue;
      }
      if (allowed < batch) batch = (int)allowed;
    }
    uint64_t batch_heavy[BATCH];
    for (int i = 0; i < batch; i++, n++) {
      /* Frame n is heavy when the count of heavy frames before it grows past it; every frame
         is a function of n, so that frames not sent are sent again alike. */
      uint64_t heavy_before = (uint64_t)((double)n * heavy_rate);
      uint64_t heavy_after = (uint64_t)((double)(n + 1) * heavy_rate);
      int v6;
      uint32_t v4_source = 0, id = 0;
      uint16_t subnet = 0;
      if (heavy_after > heavy_before) {
        uint32_t h = (uint32_t)(heavy_before % heavy);
        v6 = mix < 1 && h % 2 == 1;
        v4_source = (127u << 24) + (100u << 8) + 1 + h;
        subnet = 1;
        id = h + 1;
        batch_heavy[i] = 1;
      } else {
        uint64_t light = (n - heavy_before) % sources;
        uint64_t index = (uint64_t)(((unsigned __int128)step * light + offset) % sources);
        v6 = index >= v4;
        v4_source = (127u << 24 | 1u << 16) + 1 + (uint32_t)index;
        subnet = 2;
        id = (uint32_t)(index - v4 + 1);
        batch_heavy[i] = 0;
      }
      iov[i].iov_len = fill(frames[i], n, v6, v4_source, subnet, id, port);
    }
    int done = sendmmsg(fd, msgs, (unsigned)batch, 0);
    if (done < 0) {
      if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
        n -= (uint64_t)batch;
        continue;
      }
      perror("syn_flood: sendmmsg");
      return 1;
    }
    for (int i = 0; i < done; i++) heavy_sent += batch_heavy[i];
    sent += (uint64_t)done;
    n -= (uint64_t)(batch - done);
  }
  printf("sent %llu\n", (unsigned long long)sent);
  if (heavy > 0) printf("heavy %llu\n", (unsigned long long)heavy_sent);
  return 0;
}
