// The floor of bench/shadow_bench.sh: an outside process that uses the CPU the way the shadow
// worker does — SCHED_IDLE, chunks of ~3 ms streaming over a working set (1 MiB like
// slow_add_2's 512x512 weights), then a rest of t·(1/share − 1) — and shares nothing else with
// the server (no queue, no lock, no memory). What it costs the primary's p99 is what any
// background CPU use of that share costs on the machine.
//
//   cpu_burner SHARE [WORKING_SET_KIB]     e.g. cpu_burner 0.1 1024; runs until killed
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: cpu_burner SHARE(0.01..1) [WORKING_SET_KIB, default 1024]\n");
    return 2;
  }
  double share = atof(argv[1]);
  size_t kib = argc == 3 ? (size_t)atol(argv[2]) : 1024;
  if (!(share >= 0.01 && share <= 1.0) || kib < 1) {
    fprintf(stderr, "cpu_burner: SHARE must be from 0.01 to 1 and WORKING_SET_KIB >= 1\n");
    return 2;
  }
  struct sched_param param = {0};
  if (sched_setscheduler(0, SCHED_IDLE, &param) != 0) perror("cpu_burner: SCHED_IDLE");
  size_t n = kib * 1024 / sizeof(float);
  float* w = malloc(n * sizeof(float));
  if (w == NULL) return 1;
  for (size_t i = 0; i < n; ++i) w[i] = (float)i * 1e-6f;
  volatile float sink = 0;
  for (;;) {
    double start = Now();
    while (Now() - start < 0.003) {
      float acc = 0;
      for (size_t i = 0; i < n; ++i) acc += w[i] * 1.0001f;
      sink += acc;
    }
    if (share < 1.0) usleep((useconds_t)((Now() - start) * (1.0 / share - 1.0) * 1e6));
  }
}
