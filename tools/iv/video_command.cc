#include "tools/iv/video_command.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/safetensors/safetensors.h"
#include "common/video/decoder.h"
#include "common/video/sampler.h"

namespace iv::cli {
namespace {

// Exit status for any input the command cannot use; the reason goes to
// stderr on one line.
constexpr int kBadInput = 1;

int Fail(const char* command, const absl::Status& status) {
  std::fprintf(stderr, "iv video %s: %s\n", command,
               std::string(status.message()).c_str());
  return kBadInput;
}

int Probe(const std::string& file) {
  absl::StatusOr<std::unique_ptr<video::VideoDecoder>> decoder =
      video::VideoDecoder::Open(file);
  if (!decoder.ok()) return Fail("probe", decoder.status());
  const video::VideoInfo& info = (*decoder)->info();
  nlohmann::ordered_json json = {
      {"file", file},
      {"duration_s", info.duration_s},
      {"fps", info.fps},
      {"num_frames", info.num_frames},
      {"width", info.width},
      {"height", info.height},
      {"rotation_degrees", info.rotation_degrees},
      {"codec", info.codec},
      {"pixel_format", info.pixel_format},
      {"container", info.container},
      {"size_bytes", info.size_bytes},
  };
  std::printf("%s\n", json.dump().c_str());
  return 0;
}

struct SampleArgs {
  std::string file;
  int num_frames = 16;
  std::string sampler = "uniform";
  int frame_interval = 4;
  std::string out;
};

int Sample(const SampleArgs& args) {
  absl::StatusOr<std::unique_ptr<video::VideoDecoder>> decoder =
      video::VideoDecoder::Open(args.file);
  if (!decoder.ok()) return Fail("sample", decoder.status());
  const int64_t total = (*decoder)->info().num_frames;
  std::vector<int64_t> indices =
      args.sampler == "uniform"
          ? video::UniformIndices(total, args.num_frames,
                                  video::SampleMode::kTest)
          : video::DenseClips(total, args.num_frames, args.frame_interval, 1,
                              video::SampleMode::kTest)[0];
  absl::StatusOr<torch::Tensor> frames = (*decoder)->DecodeFrames(indices);
  if (!frames.ok()) return Fail("sample", frames.status());
  TensorFile file;
  file.tensors = {{"frames", *frames},
                  {"frame_indices", torch::tensor(indices, torch::kInt64)}};
  file.metadata = {{"source", args.file}, {"sampler", args.sampler}};
  absl::Status written = WriteSafetensors(args.out, file);
  if (!written.ok()) return Fail("sample", written);
  std::fprintf(stderr, "wrote %lld frames of %dx%d to %s\n",
               static_cast<long long>(indices.size()), (*decoder)->info().width,
               (*decoder)->info().height, args.out.c_str());
  return 0;
}

}  // namespace

void AddVideoCommand(CLI::App& iv) {
  CLI::App* video =
      iv.add_subcommand("video", "Inspect videos and sample frames from them");
  video->require_subcommand(1);

  auto probe_file = std::make_shared<std::string>();
  CLI::App* probe = video->add_subcommand(
      "probe", "Print a video's metadata as one JSON object");
  probe->add_option("file", *probe_file, "video file")->required();
  probe->footer("Exits 1 with a one-line reason if the file is not a video.");
  probe->callback([probe_file] {
    if (int code = Probe(*probe_file)) throw CLI::RuntimeError(code);
  });

  auto args = std::make_shared<SampleArgs>();
  CLI::App* sample = video->add_subcommand(
      "sample",
      "Decode the frames a model would see and save them as safetensors");
  sample->add_option("file", args->file, "video file")->required();
  sample->add_option("--num-frames", args->num_frames, "frames to take")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  sample
      ->add_option("--sampler", args->sampler,
                   "uniform: one frame from the centre of each of "
                   "num-frames equal segments; dense: num-frames frames "
                   "frame-interval apart, centred")
      ->capture_default_str()
      ->check(CLI::IsMember({"uniform", "dense"}));
  sample
      ->add_option("--frame-interval", args->frame_interval,
                   "dense only: distance between sampled frames")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  sample->add_option("--out", args->out, "output .safetensors file")
      ->required();
  sample->footer(
      "Writes `frames` uint8 [T, H, W, 3] RGB at the video's own resolution "
      "and `frame_indices` int64 [T] (0-based, presentation order).");
  sample->callback([args] {
    if (int code = Sample(*args)) throw CLI::RuntimeError(code);
  });
}

}  // namespace iv::cli
