/*
 * syn_flood: the benchmark's SYN generator. Writes Ethernet frames holding IPv4 TCP SYNs onto a
 * network interface through an AF_PACKET socket, in sendmmsg(2) batches, paced by a token
 * bucket, from many source addresses. Meant for the lo of a private network namespace (the
 * benchmark makes one): the TCP checksum is left at zero, so the stack drops every SYN silently
 * and nothing answers.
 *
 * Usage: syn_flood IFACE RATE SECONDS [SOURCES] [PORT] [ON_MS OFF_MS]
 *   RATE     SYNs per second (0: as fast as it can)
 *   SOURCES  distinct source addresses, from 127.1.0.1 up (default 4096)
 *   PORT     destination port on 127.0.0.1 (default 9999)
 *   ON_MS OFF_MS  pulses: send for ON_MS, pause for OFF_MS, repeat (default: no pauses)
 * Prints "sent N" on stdout at the end.
 *
 * Build: gcc -O2 -Wall -Wextra -o syn_flood syn_flood.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
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
#define FRAME 54 /* Ethernet 14 + IPv4 20 + TCP 20 */

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

int main(int argc, char **argv) {
  if (argc < 4 || argc == 7 || argc > 8) {
    fprintf(stderr, "usage: %s IFACE RATE SECONDS [SOURCES] [PORT] [ON_MS OFF_MS]\n", argv[0]);
    return 2;
  }
  const char *iface = argv[1];
  double rate = atof(argv[2]);
  double seconds = atof(argv[3]);
  uint32_t sources = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 4096;
  uint16_t port = argc > 5 ? (uint16_t)atoi(argv[5]) : 9999;
  double on = argc > 7 ? atof(argv[6]) / 1000 : 0;
  double off = argc > 7 ? atof(argv[7]) / 1000 : 0;
  if (sources == 0 || sources > (1u << 24) || seconds <= 0 || rate < 0) {
    fprintf(stderr, "syn_flood: bad arguments\n");
    return 2;
  }

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

  static uint8_t frames[BATCH][FRAME];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    uint8_t *f = frames[i];
    memset(f, 0, FRAME);
    f[12] = 0x08; /* IPv4 */
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[2] = 0;
    ip[3] = 40;
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = 6;
    ip[16] = 127; /* 127.0.0.1 */
    ip[19] = 1;
    uint8_t *tcp = ip + 20;
    tcp[2] = (uint8_t)(port >> 8);
    tcp[3] = (uint8_t)port;
    tcp[12] = 5 << 4;
    tcp[13] = 0x02; /* SYN */
    tcp[14] = 0xfa;
    tcp[15] = 0xf0;
    iov[i].iov_base = f;
    iov[i].iov_len = FRAME;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  uint64_t sent = 0, n = 0;
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
    for (int i = 0; i < batch; i++, n++) {
      uint8_t *ip = frames[i] + 14;
      uint32_t source = (127u << 24 | 1u << 16) + 1 + (uint32_t)(n % sources);
      ip[4] = (uint8_t)(n >> 8);
      ip[5] = (uint8_t)n;
      ip[12] = (uint8_t)(source >> 24);
      ip[13] = (uint8_t)(source >> 16);
      ip[14] = (uint8_t)(source >> 8);
      ip[15] = (uint8_t)source;
      ip[10] = ip[11] = 0;
      uint16_t sum = checksum(ip, 20);
      ip[10] = (uint8_t)(sum >> 8);
      ip[11] = (uint8_t)sum;
      uint8_t *tcp = ip + 20;
      uint32_t r = next_random();
      tcp[0] = (uint8_t)(0x80 | (r >> 25));
      tcp[1] = (uint8_t)(r >> 17);
      memcpy(tcp + 4, &r, 4);
    }
    int done = sendmmsg(fd, msgs, (unsigned)batch, 0);
    if (done < 0) {
      if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) continue;
      perror("syn_flood: sendmmsg");
      return 1;
    }
    sent += (uint64_t)done;
    n -= (uint64_t)(batch - done);
  }
  printf("sent %llu\n", (unsigned long long)sent);
  return 0;
}
