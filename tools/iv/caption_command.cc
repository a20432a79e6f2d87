#include "tools/iv/caption_command.h"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "captioner/captioner.h"
#include "common/serving/ports.h"
#include "protos/captioner_service.grpc.pb.h"
#include "tools/iv/task_client.h"

namespace iv::cli {
namespace {

namespace v1 = internvideo::v1;

struct CaptionArgs {
  std::vector<std::string> videos;
  int beam = 0;
  CLI::Option* beam_option = nullptr;
  bool sample = false;
  float temperature = 1.0f;
  CLI::Option* temperature_option = nullptr;
  uint64_t seed = 0;
  CLI::Option* seed_option = nullptr;
  int max_length = 0;
  TaskTarget target;
};

// The decoding the flags ask for; INVALID_ARGUMENT naming the flag when
// they contradict each other.
absl::StatusOr<v1::DecodingOptions> Decoding(const CaptionArgs& args) {
  v1::DecodingOptions decoding;
  const bool beam = args.beam_option->count() > 0;
  if (beam && args.sample) {
    return absl::InvalidArgumentError("--beam: not with --sample");
  }
  if (!args.sample &&
      (args.temperature_option->count() > 0 || args.seed_option->count() > 0)) {
    return absl::InvalidArgumentError(
        "--temperature, --seed: only with --sample");
  }
  if (beam) {
    decoding.set_method(v1::DecodingOptions::METHOD_BEAM);
    decoding.set_beam_width(args.beam);
  } else if (args.sample) {
    decoding.set_method(v1::DecodingOptions::METHOD_SAMPLING);
    decoding.set_temperature(args.temperature);
    if (args.seed_option->count() > 0) decoding.set_seed(args.seed);
  } else {
    decoding.set_method(v1::DecodingOptions::METHOD_GREEDY);
  }
  decoding.set_max_length(args.max_length);
  return decoding;
}

void PrintCaption(const std::string& video, const v1::Caption& caption) {
  std::printf("%s: %s  (score %.4f)\n", video.c_str(), caption.text().c_str(),
              caption.score());
}

int RunCaption(const CaptionArgs& args) {
  absl::StatusOr<v1::DecodingOptions> decoding = Decoding(args);
  if (!decoding.ok()) return PrintError("caption", decoding.status());
  v1::BatchCaptionVideosRequest request;
  *request.mutable_decoding() = *decoding;
  for (const std::string& path : args.videos) {
    absl::StatusOr<v1::VideoSource> video = VideoSourceFor(path);
    if (!video.ok()) return PrintError("caption", video.status());
    *request.add_videos() = *std::move(video);
  }
  captioner::CaptionerOptions options;
  options.allowed_roots = LocalVideoRoots();

  if (args.videos.size() == 1) {
    v1::CaptionVideoRequest one;
    *one.mutable_video() = request.videos(0);
    *one.mutable_decoding() = request.decoding();
    absl::StatusOr<v1::CaptionVideoResponse> response =
        Answer<v1::CaptionVideoResponse>(
            args.target,
            [&](const serving::ModelRegistry& model) {
              return captioner::Captioner(options, &model).CaptionVideo(one);
            },
            [&](const std::shared_ptr<grpc::Channel>& channel,
                grpc::ClientContext* context, v1::CaptionVideoResponse* out) {
              return v1::CaptionerService::NewStub(channel)->CaptionVideo(
                  context, one, out);
            });
    if (!response.ok()) return PrintError("caption", response.status());
    if (args.target.json) {
      PrintJson(*response);
      return 0;
    }
    PrintCaption(args.videos[0], response->caption());
    PrintModel(response->model());
    return 0;
  }

  absl::StatusOr<v1::BatchCaptionVideosResponse> response =
      Answer<v1::BatchCaptionVideosResponse>(
          args.target,
          [&](const serving::ModelRegistry& model) {
            return captioner::Captioner(options, &model)
                .BatchCaptionVideos(request);
          },
          [&](const std::shared_ptr<grpc::Channel>& channel,
              grpc::ClientContext* context,
              v1::BatchCaptionVideosResponse* out) {
            return v1::CaptionerService::NewStub(channel)->BatchCaptionVideos(
                context, request, out);
          });
  if (!response.ok()) return PrintError("caption", response.status());
  int failed = 0;
  for (const auto& result : response->results()) failed += result.has_error();
  if (args.target.json) {
    PrintJson(*response);
    return failed > 0 ? 1 : 0;
  }
  for (int i = 0; i < response->results_size(); ++i) {
    const auto& result = response->results(i);
    if (result.has_error()) {
      std::printf("%s: error: %s: %s\n", args.videos[i].c_str(),
                  absl::StatusCodeToString(
                      static_cast<absl::StatusCode>(result.error().code()))
                      .c_str(),
                  result.error().message().c_str());
    } else {
      PrintCaption(args.videos[i], result.caption());
    }
  }
  PrintModel(response->model());
  if (failed > 0) {
    std::fprintf(stderr, "iv caption: %d of %d videos failed\n", failed,
                 response->results_size());
    return 1;
  }
  return 0;
}

}  // namespace

void AddCaptionCommand(CLI::App& iv) {
  auto args = std::make_shared<CaptionArgs>();
  CLI::App* command = iv.add_subcommand(
      "caption",
      "Describe videos in words with the model's caption decoder: greedy "
      "by default, beam search with --beam, or sampling with --sample.\n"
      "  iv caption clip.mp4\n"
      "  iv caption a.mp4 b.mp4 c.mp4 --beam 4\n"
      "  iv caption clip.mp4 --sample --temperature 0.8 --seed 7");
  command->add_option("VIDEO", args->videos, "Video files")->required();
  args->beam_option = command->add_option("--beam", args->beam,
                                          "Beam search with this many beams");
  command->add_flag("--sample", args->sample,
                    "Sample tokens instead of choosing the most likely");
  args->temperature_option =
      command
          ->add_option("--temperature", args->temperature,
                       "With --sample: softmax temperature, > 0")
          ->capture_default_str();
  args->seed_option =
      command->add_option("--seed", args->seed,
                          "With --sample: random seed; the same seed gives "
                          "the same caption (default: a fresh one)");
  command->add_option("--max-length", args->max_length,
                      "Longest caption in tokens (default: the model's)");
  AddTaskTargetFlags(*command, args->target,
                     serving::LoopbackAddress(serving::kCaptionerPort),
                     "captioner_server");
  OnRun(*command, [args] { return RunCaption(*args); });
}

}  // namespace iv::cli
