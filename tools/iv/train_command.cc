#include "tools/iv/train_command.h"

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tools/iv/progress_bar.h"
#include "trainer/recipe.h"
#include "trainer/trainer.h"

namespace iv::cli {
namespace {

struct TrainArgs {
  std::string recipe;
  std::string output_dir;
};

std::atomic<bool> interrupted{false};

std::string FormatMetrics(const trainer::Metrics& metrics) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : metrics) {
    parts.push_back(absl::StrFormat("%s %.4g", key, value));
  }
  return absl::StrJoin(parts, ", ");
}

int RunTrain(const TrainArgs& args) {
  absl::StatusOr<internvideo::v1::TrainingRecipe> recipe =
      trainer::ReadRecipe(args.recipe);
  if (!recipe.ok()) {
    std::fprintf(stderr, "iv train: %s\n", recipe.status().ToString().c_str());
    return 2;
  }
  // Ctrl-C finishes the current step and writes a checkpoint; running the
  // same command again resumes from it.
  std::signal(SIGINT, [](int) { interrupted = true; });
  std::signal(SIGTERM, [](int) { interrupted = true; });
  ProgressBar bar("steps");
  trainer::TrainOptions options;
  options.output_dir = args.output_dir;
  options.cancel = &interrupted;
  options.on_progress = [&bar](const trainer::TrainProgress& p) {
    if (p.evaluation) {
      std::fprintf(stderr, "\nstep %lld eval: %s\n",
                   static_cast<long long>(p.step),
                   FormatMetrics(p.eval_metrics).c_str());
      return;
    }
    if (!p.checkpoint.empty()) return;
    bar.Update(p.step, p.total_steps,
               absl::StrFormat("loss %.4f  lr %.2e  %.1f clips/s", p.loss, p.lr,
                               p.clips_per_second),
               -1, p.eta_seconds);
  };
  absl::StatusOr<trainer::TrainResult> result =
      trainer::Train(*recipe, options);
  if (!result.ok()) {
    std::fprintf(stderr, "\niv train: %s\n",
                 result.status().ToString().c_str());
    return result.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::printf(
      "iv train: %lld steps%s, final loss %.4f%s\n  checkpoint: %s\n  "
      "curves:     %s/curves.svg\n",
      static_cast<long long>(result->steps),
      result->resumed_from_step > 0
          ? absl::StrCat(" (resumed at step ", result->resumed_from_step, ")")
                .c_str()
          : "",
      result->final_loss,
      result->final_metrics.empty()
          ? ""
          : absl::StrCat(", eval: ", FormatMetrics(result->final_metrics))
                .c_str(),
      result->final_checkpoint.c_str(), result->output_dir.c_str());
  return 0;
}

}  // namespace

void AddTrainCommand(CLI::App& iv) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* train = iv.add_subcommand(
      "train",
      "Train a model from a recipe (protobuf text, protos/training.proto).\n"
      "Resumes from the newest checkpoint in the output folder; Ctrl-C "
      "stops after a checkpoint.");
  train->add_option("recipe", args->recipe, "TrainingRecipe text file")
      ->required()
      ->check(CLI::ExistingFile);
  train->add_option("--output-dir", args->output_dir,
                    "Folder for checkpoints, metrics.jsonl and curves.svg "
                    "(default: the recipe's output_dir, else runs/NAME)");
  train->callback([args] { std::exit(RunTrain(*args)); });
}

}  // namespace iv::cli
