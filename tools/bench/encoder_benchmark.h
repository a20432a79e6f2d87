// `iv bench encoder`: how fast the model library runs VideoMAE's ViT
// (features only, inference mode), in fp32 and bf16, printed beside the same
// architecture run by PyTorch eager (videomae_eager.py) in the same run with
// the same thread count. Depends on LibTorch only, so the GPU build
// (tools/gpu) compiles it too.
#ifndef TOOLS_BENCH_ENCODER_BENCHMARK_H_
#define TOOLS_BENCH_ENCODER_BENCHMARK_H_

#include <string>
#include <vector>

namespace iv::bench {

struct EncoderBenchmarkOptions {
  // Intra-op threads of both sides. 1 by default: on a small machine shared
  // with other work, OpenMP threads that wait for a busy core make 2-thread
  // timings swing by tens of times, and one thread compares like for like.
  int threads = 1;
  int batch = 1;  // clips per forward
  // Each figure is the fastest of this many forwards, after a warm-up.
  int iters = 3;
  // Presets: "b16" (ViT-B/16) and "tiny" (the project's small model), each
  // on 16x224x224 clips.
  std::vector<std::string> models = {"b16", "tiny"};
  // "auto" (CUDA when available), "cpu" or "cuda".
  std::string device = "auto";
  std::string python = "/usr/bin/python3";  // Debian's python3-torch
  std::string eager_script = "tools/bench/videomae_eager.py";
};

// Prints the table; returns false (with the reason on stderr) on failure.
bool RunEncoderBenchmark(const EncoderBenchmarkOptions& options);

}  // namespace iv::bench

#endif  // TOOLS_BENCH_ENCODER_BENCHMARK_H_
