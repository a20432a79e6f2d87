// `iv bench decode`: how fast the video layer gets frames to a model, each
// figure printed beside its baseline from the same run.
#ifndef TOOLS_BENCH_DECODE_BENCHMARK_H_
#define TOOLS_BENCH_DECODE_BENCHMARK_H_

#include <string>

#include "absl/status/status.h"

namespace iv::bench {

struct DecodeBenchmarkOptions {
  // Where generated inputs are cached between runs.
  std::string work_dir = "/tmp/iv-bench";
  double video_seconds = 300;  // the long 1280x720 30 fps H.264 video
  int frames = 16;             // frames sampled from it
  int repeats = 3;             // each timing is the median of this many
  std::string pyav_script = "tools/bench/pyav_sample.py";
  bool loader = true;  // also measure ClipLoader throughput
};

absl::Status RunDecodeBenchmark(const DecodeBenchmarkOptions& options);

}  // namespace iv::bench

#endif  // TOOLS_BENCH_DECODE_BENCHMARK_H_
