#include "tools/iv/recognize_command.h"

#include <cstdio>
#include <memory>
#include <string>

#include "common/serving/ports.h"
#include "protos/task_service.grpc.pb.h"
#include "task_service/recognizer.h"
#include "tools/iv/task_client.h"

namespace iv::cli {
namespace {

namespace v1 = internvideo::v1;

struct RecognizeArgs {
  std::string video;
  int top_k = 5;
  std::string zero_shot;
  CLI::Option* zero_shot_option = nullptr;
  std::string prompt;
  int clips = 0;
  bool three_crop = false;
  TaskTarget target;
};

int RunRecognize(const RecognizeArgs& args) {
  v1::RecognizeRequest request;
  absl::StatusOr<v1::VideoSource> video = VideoSourceFor(args.video);
  if (!video.ok()) return PrintError("recognize", video.status());
  *request.mutable_video() = *std::move(video);
  request.set_top_k(args.top_k);
  if (args.zero_shot_option->count() > 0) {
    v1::RecognizeRequest::ZeroShot* zero_shot = request.mutable_zero_shot();
    for (const std::string& label : SplitList(args.zero_shot)) {
      zero_shot->add_labels(label);
    }
    zero_shot->set_prompt_template(args.prompt);
  } else if (!args.prompt.empty()) {
    return PrintError("recognize", absl::InvalidArgumentError(
                                       "--prompt: only with --zero-shot"));
  }
  if (args.clips != 0) request.mutable_sampling()->set_num_clips(args.clips);
  if (args.three_crop) {
    request.mutable_sampling()->set_crop(v1::ClipSampling::CROP_THREE);
  }

  absl::StatusOr<v1::RecognizeResponse> response =
      Answer<v1::RecognizeResponse>(
          args.target,
          [&](const serving::ModelRegistry& model) {
            tasks::TaskOptions options;
            options.allowed_roots = LocalVideoRoots();
            return tasks::Recognizer(options, &model).Recognize(request);
          },
          [&](const std::shared_ptr<grpc::Channel>& channel,
              grpc::ClientContext* context, v1::RecognizeResponse* out) {
            return v1::RecognitionService::NewStub(channel)->Recognize(
                context, request, out);
          });
  if (!response.ok()) return PrintError("recognize", response.status());
  if (args.target.json) {
    PrintJson(*response);
    return 0;
  }
  PrintLabelScores("label", response->labels());
  std::printf("(%d view%s) ", response->num_views(),
              response->num_views() == 1 ? "" : "s");
  PrintModel(response->model());
  return 0;
}

}  // namespace

void AddRecognizeCommand(CLI::App& iv) {
  auto args = std::make_shared<RecognizeArgs>();
  CLI::App* command = iv.add_subcommand(
      "recognize",
      "Recognize the action in a video: the top-k labels with scores, from "
      "the model's trained head, or zero-shot from label texts you give.\n"
      "  iv recognize clip.mp4\n"
      "  iv recognize clip.mp4 --zero-shot \"move left,grows,rotates\"\n"
      "  iv recognize clip.mp4 --clips 4 --three-crop --local");
  command->add_option("VIDEO", args->video, "Video file")->required();
  command->add_option("--top-k", args->top_k, "Labels to print, best first")
      ->capture_default_str();
  args->zero_shot_option = command->add_option(
      "--zero-shot", args->zero_shot,
      "Comma-separated candidate labels: zero-shot recognition through the "
      "text encoder instead of the trained head");
  command->add_option("--prompt", args->prompt,
                      "With --zero-shot: the text each label is placed in, "
                      "containing {label} (default \"a video of {label}\")");
  command->add_option("--clips", args->clips,
                      "Clips averaged over the video (default: the model's, "
                      "1)");
  command->add_flag("--three-crop", args->three_crop,
                    "Average three crops per clip instead of the centre one");
  AddTaskTargetFlags(*command, args->target,
                     serving::LoopbackAddress(serving::kTaskPort),
                     "task_server");
  OnRun(*command, [args] { return RunRecognize(*args); });
}

}  // namespace iv::cli
