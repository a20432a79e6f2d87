#include "tools/iv/bench_command.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tools/bench/decode_benchmark.h"
#include "tools/bench/encoder_benchmark.h"

namespace iv::cli {
namespace {

void AddEncoderCommand(CLI::App& bench) {
  auto options = std::make_shared<bench::EncoderBenchmarkOptions>();
  CLI::App* encoder = bench.add_subcommand(
      "encoder",
      "VideoMAE ViT-B/16 and tiny forward (16x224 clips) in fp32 and bf16 "
      "vs the same architecture in PyTorch eager, same run and threads");
  encoder
      ->add_option("--threads", options->threads,
                   "intra-op threads of both sides (1: stable timings on a "
                   "machine shared with other work)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  encoder->add_option("--batch", options->batch, "clips per forward")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  encoder->add_option("--iters", options->iters, "timed forwards per figure")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  encoder->add_option("--models", options->models, "presets to run: b16, tiny")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::IsMember({"b16", "tiny"}));
  encoder
      ->add_option("--device", options->device,
                   "auto (CUDA when available), cpu or cuda")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  encoder
      ->add_option("--eager-script", options->eager_script,
                   "the PyTorch eager baseline (run from the repository root)")
      ->capture_default_str();
  encoder->callback([options] {
    if (!bench::RunEncoderBenchmark(*options)) throw CLI::RuntimeError(1);
  });
}

}  // namespace

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
  AddEncoderCommand(*bench);
}

}  // namespace iv::cli
