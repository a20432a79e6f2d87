#include "tools/iv/eval_command.h"

#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "common/data/manifest.h"
#include "common/model/internvideo/internvideo_checkpoint.h"
#include "nlohmann/json.hpp"
#include "tools/iv/progress_bar.h"
#include "trainer/evaluation.h"

namespace iv::cli {
namespace {

struct EvalArgs {
  std::string checkpoint;
  std::string manifest;
  std::string task;
  int batch_size = 16;
};

int RunEval(const EvalArgs& args) {
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "iv eval: %s\n", status.ToString().c_str());
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  };
  const std::map<std::string, trainer::EvalTask> tasks = {
      {"recognition", trainer::EvalTask::kRecognition},
      {"retrieval", trainer::EvalTask::kRetrieval}};
  auto task = tasks.find(args.task);
  if (task == tasks.end()) {
    return fail(absl::UnimplementedError(
        "--task " + args.task +
        ": this build evaluates recognition and retrieval; localization, "
        "vqa and caption come with their task heads"));
  }
  absl::StatusOr<model::LoadedInternVideo> loaded =
      model::LoadInternVideo(args.checkpoint);
  if (!loaded.ok()) return fail(loaded.status());
  absl::StatusOr<std::vector<data::TrimmedClip>> clips =
      data::ReadTrimmedManifest(args.manifest);
  if (!clips.ok()) return fail(clips.status());
  ProgressBar bar("batches");
  absl::StatusOr<trainer::Metrics> metrics = trainer::Evaluate(
      loaded->model, task->second, *clips, loaded->tokenizer.get(),
      args.batch_size,
      [&bar](int64_t done, int64_t total) { bar.Update(done, total); });
  if (!metrics.ok()) return fail(metrics.status());
  nlohmann::ordered_json json = {{"task", args.task}};
  for (const auto& [key, value] : *metrics) {
    if (key == "n") {
      json[key] = static_cast<int64_t>(value);
    } else {
      json[key] = value;
    }
  }
  std::printf("%s\n", json.dump().c_str());
  return 0;
}

}  // namespace

void AddEvalCommand(CLI::App& iv) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* eval = iv.add_subcommand(
      "eval",
      "SynthWorld-Bench metrics of a trained checkpoint on a manifest; the "
      "last line is one JSON object, e.g.\n"
      "{\"task\":\"recognition\",\"top1\":0.97,\"twin_top1\":0.96,\"n\":300}");
  eval->add_option("--checkpoint", args->checkpoint,
                   "Trained model folder (iv train's checkpoint)")
      ->required();
  eval->add_option("--manifest", args->manifest,
                   "JSON Lines manifest in SynthWorld's format")
      ->required()
      ->check(CLI::ExistingFile);
  eval->add_option("--task", args->task,
                   "recognition | retrieval | localization | vqa | caption")
      ->required();
  eval->add_option("--batch-size", args->batch_size, "Clips per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  eval->callback([args] { std::exit(RunEval(*args)); });
}

}  // namespace iv::cli
