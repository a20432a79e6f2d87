#include "tools/iv/eval_command.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
  bool single_frame = false;
};

int RunEval(const EvalArgs& args) {
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "iv eval: %s\n", status.ToString().c_str());
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  };
  const std::vector<std::string> tasks = trainer::EvalTaskNames();
  if (std::find(tasks.begin(), tasks.end(), args.task) == tasks.end()) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        "--task ", args.task, ": expected ", absl::StrJoin(tasks, ", "))));
  }
  const bool untrimmed = args.task == trainer::kLocalizationTask;
  absl::StatusOr<model::LoadedInternVideo> loaded =
      model::LoadInternVideo(args.checkpoint);
  if (!loaded.ok()) return fail(loaded.status());
  // Localization manifests list untrimmed videos, the others trimmed clips.
  internvideo::v1::DataConfig data;
  data.add_manifests()->set_path(args.manifest);
  absl::StatusOr<trainer::Dataset> dataset =
      trainer::ReadDataset(data, untrimmed,
                           {loaded->model->config().proto.class_names().begin(),
                            loaded->model->config().proto.class_names().end()});
  if (!dataset.ok()) return fail(dataset.status());
  ProgressBar bar(untrimmed ? "videos" : "batches");
  trainer::EvalOptions eval;
  eval.batch_size = args.batch_size;
  eval.single_frame = args.single_frame;
  absl::StatusOr<trainer::Metrics> metrics = trainer::Evaluate(
      loaded->model, args.task, *dataset, loaded->tokenizer.get(), eval,
      [&bar](int64_t done, int64_t total) { bar.Update(done, total); });
  if (!metrics.ok()) return fail(metrics.status());
  // The task first, its metrics, then the count.
  nlohmann::ordered_json json = {{"task", args.task}};
  for (const auto& [key, value] : *metrics) {
    if (key != "n") json[key] = value;
  }
  json["n"] = static_cast<int64_t>(metrics->count("n") ? metrics->at("n") : 0);
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
      "{\"task\":\"recognition\",\"top1\":0.97,\"twin_top1\":0.96,\"n\":300}\n"
      "Keys: recognition top1, twin_top1; retrieval t2v_r1/5/10, "
      "v2t_r1/5/10; localization (a manifest of untrimmed videos) map_0.3 "
      "... map_0.7 (every 0.1), map_mean (of 0.3, 0.5, 0.7), map_0.3:0.7 "
      "(of all five); vqa accuracy; caption triple_accuracy, bleu4.");
  eval->add_option("--checkpoint", args->checkpoint,
                   "Trained model folder (iv train's checkpoint)")
      ->required();
  eval->add_option(
          "--manifest", args->manifest,
          "JSON Lines manifest (common/data/manifest.h: SynthWorld's, or any "
          "rows with a file and labels)")
      ->required()
      ->check(CLI::ExistingFile);
  eval->add_option("--task", args->task,
                   absl::StrJoin(trainer::EvalTaskNames(), " | "))
      ->required();
  eval->add_option("--batch-size", args->batch_size, "Clips per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  eval->add_flag("--single-frame", args->single_frame,
                 "Feed every clip's middle frame repeated over time (the "
                 "single-frame baseline: how much the model relies on "
                 "motion)");
  eval->callback([args] { std::exit(RunEval(*args)); });
}

}  // namespace iv::cli
