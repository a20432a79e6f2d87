#include "tools/iv/bench_command.h"

#include <cstdio>
#include <memory>
#include <string>

#include "tools/bench/decode_benchmark.h"

namespace iv::cli {

void AddBenchCommand(CLI::App& iv) {
  CLI::App* bench = iv.add_subcommand(
      "bench", "Measure speed; each figure is printed beside its baseline");
  bench->require_subcommand(1);

  auto options = std::make_shared<bench::DecodeBenchmarkOptions>();
  CLI::App* decode = bench->add_subcommand(
      "decode",
      "Frame sampling from a long video vs decoding it whole and vs PyAV; "
      "ClipLoader throughput with 1 and 2 workers");
  decode
      ->add_option("--work-dir", options->work_dir,
                   "where generated videos are cached")
      ->capture_default_str();
  decode
      ->add_option("--video-seconds", options->video_seconds,
                   "length of the generated 1280x720 video")
      ->capture_default_str()
      ->check(CLI::Range(5.0, 3600.0));
  decode->add_option("--frames", options->frames, "frames to sample")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  decode->add_option("--repeats", options->repeats, "timings per figure")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
  decode
      ->add_option("--pyav-script", options->pyav_script,
                   "the PyAV baseline (run from the repository root)")
      ->capture_default_str();
  decode->add_flag("!--no-loader", options->loader,
                   "skip the ClipLoader throughput part");
  decode->callback([options] {
    absl::Status status = bench::RunDecodeBenchmark(*options);
    if (!status.ok()) {
      std::fprintf(stderr, "iv bench decode: %s\n",
                   std::string(status.message()).c_str());
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace iv::cli
