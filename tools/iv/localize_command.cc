#include "tools/iv/localize_command.h"

#include <cstdio>
#include <memory>
#include <string>

#include "common/serving/ports.h"
#include "protos/task_service.grpc.pb.h"
#include "task_service/localizer.h"
#include "tools/iv/task_client.h"

namespace iv::cli {
namespace {

namespace v1 = internvideo::v1;

struct LocalizeArgs {
  std::string video;
  float threshold = 0.05f;
  int max_segments = 100;
  TaskTarget target;
};

int RunLocalize(const LocalizeArgs& args) {
  v1::LocalizeRequest request;
  absl::StatusOr<v1::VideoSource> video = VideoSourceFor(args.video);
  if (!video.ok()) return PrintError("localize", video.status());
  *request.mutable_video() = *std::move(video);
  request.set_score_threshold(args.threshold);
  request.set_max_segments(args.max_segments);

  absl::StatusOr<v1::LocalizeResponse> response = Answer<v1::LocalizeResponse>(
      args.target,
      [&](const serving::ModelRegistry& model) {
        tasks::TaskOptions options;
        options.allowed_roots = LocalVideoRoots();
        options.feature_cache_bytes = 0;  // one request: nothing to reuse
        return tasks::Localizer(options, &model).Localize(request);
      },
      [&](const std::shared_ptr<grpc::Channel>& channel,
          grpc::ClientContext* context, v1::LocalizeResponse* out) {
        return v1::LocalizationService::NewStub(channel)->Localize(
            context, request, out);
      });
  if (!response.ok()) return PrintError("localize", response.status());
  if (args.target.json) {
    PrintJson(*response);
    return 0;
  }
  if (response->segments_size() == 0) {
    std::printf("no segments scored %g or more in %.2f s\n", args.threshold,
                response->duration_s());
  } else {
    std::printf("%3s  %8s  %8s  %7s  %s\n", "#", "start_s", "end_s", "score",
                "label");
  }
  for (int i = 0; i < response->segments_size(); ++i) {
    const v1::ActionSegment& segment = response->segments(i);
    std::printf("%3d  %8.2f  %8.2f  %7.4f  %s\n", i + 1,
                segment.segment().start_s(), segment.segment().end_s(),
                segment.score(), segment.label().c_str());
  }
  std::printf("(%.2f s of video) ", response->duration_s());
  PrintModel(response->model());
  return 0;
}

}  // namespace

void AddLocalizeCommand(CLI::App& iv) {
  auto args = std::make_shared<LocalizeArgs>();
  CLI::App* command = iv.add_subcommand(
      "localize",
      "Find the actions in an untrimmed video: segments with start, end, "
      "label and score, best first.\n"
      "  iv localize long.mp4\n"
      "  iv localize long.mp4 --threshold 0.3 --max-segments 10");
  command->add_option("VIDEO", args->video, "Video file")->required();
  command
      ->add_option("--threshold", args->threshold,
                   "Lowest score printed (after soft-NMS)")
      ->capture_default_str();
  command->add_option("--max-segments", args->max_segments, "Most segments")
      ->capture_default_str();
  AddTaskTargetFlags(*command, args->target,
                     serving::LoopbackAddress(serving::kTaskPort),
                     "task_server");
  OnRun(*command, [args] { return RunLocalize(*args); });
}

}  // namespace iv::cli
