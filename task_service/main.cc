// task_server: the Recognition, Localization and VQA services over gRPC on
// one port, answering with the model in --model-dir and hot-loading each
// newer step-N/ version published there.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "common/serving/model_server.h"
#include "common/serving/ports.h"
#include "task_service/localizer.h"
#include "task_service/question_answerer.h"
#include "task_service/recognizer.h"
#include "task_service/task_service.h"

int main(int argc, char** argv) {
  CLI::App app{
      "The InternVideo task services: action recognition (trained head or "
      "zero-shot), temporal action localization and video question "
      "answering, on one port, from a model folder it hot-reloads."};
  iv::serving::ModelServerSpec spec;
  spec.name = "task_server";
  spec.default_port = iv::serving::kTaskPort;
  spec.device_flag = false;
  // A masked encoder alone (an imported VideoMAE) recognizes by its head.
  spec.needs_multimodal = false;
  iv::serving::ModelServer server(spec);
  server.AddFlags(app);
  iv::tasks::TaskOptions options;
  int64_t feature_cache_mb = options.feature_cache_bytes >> 20;
  app.add_option("--allowed-roots", options.allowed_roots,
                 "folders whose videos video.path may name (default: none, "
                 "only inline videos)")
      ->delimiter(',');
  app.add_option("--max-clips", options.clips.max_clips,
                 "most sampling.num_clips of a Recognize request")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--max-question-bytes", options.max_question_bytes,
                 "longest question AnswerQuestion accepts")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-localize-windows", options.max_localize_windows,
                 "most windows Localize computes for one video (the "
                 "localization head's stride sets how long a video that is)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--feature-cache-mb", feature_cache_mb,
                 "window features of recent videos kept for Localize (0: "
                 "none)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  CLI11_PARSE(app, argc, argv);

  if (absl::Status status = server.Init(); !status.ok()) {
    std::fprintf(stderr, "task_server: %s\n",
                 std::string(status.message()).c_str());
    return 2;
  }
  options.feature_cache_bytes = feature_cache_mb << 20;
  iv::tasks::Recognizer recognizer(options, &server.registry());
  iv::tasks::Localizer localizer(options, &server.registry());
  iv::tasks::QuestionAnswerer answerer(options, &server.registry());
  iv::tasks::RecognitionServiceImpl recognition(&recognizer);
  iv::tasks::LocalizationServiceImpl localization(&localizer);
  iv::tasks::VqaServiceImpl vqa(&answerer);
  return server.Run({&recognition, &localization, &vqa});
}
