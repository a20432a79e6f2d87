#include "tools/iv/ask_command.h"

#include <cstdio>
#include <memory>
#include <string>

#include "common/serving/ports.h"
#include "protos/task_service.grpc.pb.h"
#include "task_service/question_answerer.h"
#include "tools/iv/task_client.h"

namespace iv::cli {
namespace {

namespace v1 = internvideo::v1;

struct AskArgs {
  std::string video;
  std::string question;
  std::string choices;
  int top_k = 5;
  TaskTarget target;
};

int RunAsk(const AskArgs& args) {
  v1::AnswerQuestionRequest request;
  absl::StatusOr<v1::VideoSource> video = VideoSourceFor(args.video);
  if (!video.ok()) return PrintError("ask", video.status());
  *request.mutable_video() = *std::move(video);
  request.set_question(args.question);
  for (const std::string& choice : SplitList(args.choices)) {
    request.add_candidates(choice);
  }
  request.set_top_k(args.top_k);

  absl::StatusOr<v1::AnswerQuestionResponse> response =
      Answer<v1::AnswerQuestionResponse>(
          args.target,
          [&](const serving::ModelRegistry& model) {
            tasks::TaskOptions options;
            options.allowed_roots = LocalVideoRoots();
            return tasks::QuestionAnswerer(options, &model)
                .AnswerQuestion(request);
          },
          [&](const std::shared_ptr<grpc::Channel>& channel,
              grpc::ClientContext* context, v1::AnswerQuestionResponse* out) {
            return v1::VQAService::NewStub(channel)->AnswerQuestion(
                context, request, out);
          });
  if (!response.ok()) return PrintError("ask", response.status());
  if (args.target.json) {
    PrintJson(*response);
    return 0;
  }
  std::printf("answer: %s  (score %.4f)\n", response->answer().c_str(),
              response->score());
  PrintLabelScores("alternative", response->alternatives());
  PrintModel(response->model());
  return 0;
}

}  // namespace

void AddAskCommand(CLI::App& iv) {
  auto args = std::make_shared<AskArgs>();
  CLI::App* command = iv.add_subcommand(
      "ask",
      "Answer a question about a video: the answer with its score and the "
      "top-k alternatives, from the model's answer vocabulary or, with "
      "--choices, among the answers you give.\n"
      "  iv ask clip.mp4 \"what color is the shape?\"\n"
      "  iv ask clip.mp4 \"what does the shape do?\" --choices "
      "\"move left,grow,rotate\"");
  command->add_option("VIDEO", args->video, "Video file")->required();
  command->add_option("QUESTION", args->question, "The question")->required();
  command->add_option("--choices", args->choices,
                      "Comma-separated candidate answers (multiple choice)");
  command->add_option("--top-k", args->top_k, "Alternatives to print")
      ->capture_default_str();
  AddTaskTargetFlags(*command, args->target,
                     serving::LoopbackAddress(serving::kTaskPort),
                     "task_server");
  OnRun(*command, [args] { return RunAsk(*args); });
}

}  // namespace iv::cli
