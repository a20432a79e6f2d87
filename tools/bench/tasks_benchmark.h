// `iv bench tasks`: p50/p99 latency and throughput of each task request type
// (recognition, zero-shot, VQA, captioning, localization) through gRPC on
// loopback under light concurrency, each beside the same library call made
// in-process (no gRPC), same model, videos, clients and run.
#ifndef TOOLS_BENCH_TASKS_BENCHMARK_H_
#define TOOLS_BENCH_TASKS_BENCHMARK_H_

#include <string>

#include "absl/status/status.h"

namespace iv::bench {

struct TasksBenchmarkOptions {
  int requests = 40;  // timed calls per request type
  int clients = 2;    // concurrent clients (and in-process threads)
  int threads = 0;    // intra-op threads; 0 = cores
  // A checkpoint folder or a folder of step-N versions (relative paths are
  // from the current directory).
  std::string model = "models/iv-tiny";
  // Emptied, then holds the rendered videos.
  std::string work_dir = "/tmp/iv-bench-tasks";
};

// Renders a few SynthWorld clips and untrimmed videos into work_dir, serves
// the model with the task services and the captioner on loopback, and prints
// per request type its latency through gRPC beside the in-process call's.
absl::Status RunTasksBenchmark(const TasksBenchmarkOptions& options);

}  // namespace iv::bench

#endif  // TOOLS_BENCH_TASKS_BENCHMARK_H_
