// `iv bench embed`: EmbedVideo throughput of the encoder service with
// dynamic batching beside the same service one request at a time
// (--max-batch 1), same model, videos, clients and machine, same run.
#ifndef TOOLS_BENCH_EMBED_BENCHMARK_H_
#define TOOLS_BENCH_EMBED_BENCHMARK_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace iv::bench {

struct EmbedBenchmarkOptions {
  int requests = 256;  // EmbedVideo calls per figure
  int clients = 16;    // concurrent gRPC clients
  int max_batch = 16;  // of the batched server
  double max_queue_delay_ms = 10;
  int decode_threads = 2;
  int threads = 0;  // intra-op threads; 0 = cores
  // "iv-tiny": the video tower of protos/testdata/iv_tiny_model.textproto
  // (112 px, 8 frames, width 192, 6 layers); "test": the tests' 32 px model.
  std::string model = "iv-tiny";
  // Emptied, then holds the rendered videos and the model.
  std::string work_dir = "/tmp/iv-bench-embed";
};

// Renders a few SynthWorld clips and a random-weight model into work_dir,
// serves it on loopback twice (batched, then --max-batch 1) and prints both
// throughputs and their ratio.
absl::Status RunEmbedBenchmark(const EmbedBenchmarkOptions& options);

// What the model benchmarks do first: empties `work_dir` (left in place
// afterwards, for inspection) and sets LibTorch's intra-op threads to
// `threads` (0 = one per core). Returns the threads set.
absl::StatusOr<int> PrepareModelBenchmark(const std::string& work_dir,
                                          int threads);

}  // namespace iv::bench

#endif  // TOOLS_BENCH_EMBED_BENCHMARK_H_
