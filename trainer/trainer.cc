#include "trainer/trainer.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/data/clip_loader.h"
#include "common/files/atomic_file.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/model/videomae/weight_init.h"
#include "common/text/clip_tokenizer.h"
#include "nlohmann/json.hpp"
#include "trainer/distributed/collectives.h"
#include "trainer/distributed/data_parallel.h"
#include "trainer/distributed/rendezvous.h"
#include "trainer/init_checkpoint.h"
#include "trainer/lr_schedule.h"
#include "trainer/objectives.h"
#include "trainer/optimizer.h"
#include "trainer/recipe.h"
#include "trainer/training_checkpoint.h"
#include "trainer/training_curves.h"
#include "trainer/training_data.h"

namespace iv::trainer {
namespace {

using internvideo::v1::ModelPart;
using internvideo::v1::TrainingRecipe;

constexpr char kMetricsLog[] = "metrics.jsonl";
constexpr char kCurvesPlot[] = "curves.svg";

// Turns gradients on for the parameters of the parts `objective` trains
// that neither recipe.frozen nor the objective's FrozenPrefixes name, and
// off for every other; frozen parts run in eval mode (no dropout or drop
// path), as frozen encoders should.
model::NamedTensors SelectTrainable(model::InternVideoModel& model,
                                    const Objective& objective,
                                    const TrainingRecipe& recipe) {
  std::vector<std::string> on = objective.TrainedPrefixes(),
                           off = objective.FrozenPrefixes();
  for (ModelPart part : objective.TrainedParts()) {
    on.push_back(model::InternVideoModelImpl::PartPrefix(part));
  }
  for (int part : recipe.frozen()) {
    off.push_back(
        model::InternVideoModelImpl::PartPrefix(static_cast<ModelPart>(part)));
  }
  auto starts_with_any = [](const std::string& name,
                            const std::vector<std::string>& prefixes) {
    for (const std::string& prefix : prefixes) {
      if (!prefix.empty() && absl::StartsWith(name, prefix)) return true;
    }
    return false;
  };
  model::NamedTensors trainable;
  for (auto& item : model->named_parameters()) {
    const bool train =
        starts_with_any(item.key(), on) && !starts_with_any(item.key(), off);
    item.value().set_requires_grad(train);
    if (train) trainable.push_back({item.key(), item.value()});
  }
  model->train();
  for (auto& child : model->named_children()) {
    if (!starts_with_any(child.key() + ".", on)) child.value()->eval();
  }
  for (auto& module : model->named_modules()) {
    if (starts_with_any(module.key() + ".", off)) module.value()->eval();
  }
  return trainable;
}

void AppendLog(const std::string& path, const nlohmann::json& event) {
  std::ofstream out(path, std::ios::app);
  out << event.dump() << "\n";
}

// Drops the log's events after `step`: a resumed run logs them again.
void TruncateLog(const std::string& path, int64_t step) {
  std::ifstream in(path);
  std::string kept, line;
  while (std::getline(in, line)) {
    const nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
    if (!event.is_discarded() && event.value("step", int64_t{0}) <= step) {
      kept += line + "\n";
    }
  }
  in.close();
  files::WriteFileAtomically(path, kept).IgnoreError();
}

// The checkpoint to resume from, the same on every rank: rank 0 picks its
// newest and the others look for that step in their own listing of the
// output folder (a filesystem shared by all ranks is assumed). nullopt when
// the run starts fresh.
absl::StatusOr<std::optional<CheckpointInfo>> AgreeOnCheckpoint(
    const World& world, const std::string& output_dir) {
  const std::vector<CheckpointInfo> checkpoints =
      ListTrainingCheckpoints(output_dir);
  int64_t step = -1;
  if (world.is_main() && !checkpoints.empty())
    step = checkpoints.back().state.step;
  if (world.world_size() > 1) {
    // Rank 0 contributes its step + 1, every other rank 0.
    absl::StatusOr<std::vector<double>> picked = AllReduceScalars(
        world, {world.is_main() ? static_cast<double>(step + 1) : 0.0});
    if (!picked.ok()) return picked.status();
    step = static_cast<int64_t>((*picked)[0]) - 1;
  }
  if (step < 0) return std::nullopt;
  for (const CheckpointInfo& info : checkpoints) {
    if (info.state.step == step) return info;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "rank ", world.rank(), " does not see the checkpoint of step ", step,
      " that rank 0 resumes from in ", output_dir,
      "/checkpoints: every rank needs the same (shared) output folder"));
}

// FailedPrecondition unless every rank holds the same trainable parameters
// (a cheap checksum, compared across ranks).
absl::Status CheckRanksAgree(const World& world,
                             const model::NamedTensors& trainable) {
  if (world.world_size() == 1) return absl::OkStatus();
  double checksum = 0;
  for (const auto& [name, tensor] : trainable) {
    checksum += tensor.detach().to(torch::kFloat64).abs().sum().item<double>();
  }
  absl::StatusOr<std::vector<double>> extremes =
      AllReduceScalars(world, {checksum, -checksum}, Reduction::kMax);
  if (!extremes.ok()) return extremes.status();
  if ((*extremes)[0] != -(*extremes)[1]) {
    return absl::InternalError(
        absl::StrCat("the ranks' parameters diverged (checksums from ",
                     -(*extremes)[1], " to ", (*extremes)[0], ")"));
  }
  return absl::OkStatus();
}

// Whether one of the recipe's init checkpoints covers the masked encoder.
bool InitializesMaskedEncoder(const TrainingRecipe& recipe) {
  for (const auto& init : recipe.init()) {
    if (init.part() == internvideo::v1::MODEL_PART_UNSPECIFIED ||
        init.part() == internvideo::v1::MODEL_PART_MASKED_ENCODER) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string RecipeOutputDir(const TrainingRecipe& recipe) {
  if (!recipe.output_dir().empty()) return recipe.output_dir();
  return absl::StrCat("runs/", recipe.name().empty() ? "run" : recipe.name());
}

absl::StatusOr<TrainResult> Train(const TrainingRecipe& recipe,
                                  const TrainOptions& options) {
  // The recipe is checked against the launcher's world size before meeting
  // the other ranks, so a bad recipe fails fast on every rank.
  absl::StatusOr<RendezvousOptions> rendezvous = RendezvousOptionsFromEnv();
  if (!rendezvous.ok()) return rendezvous.status();
  absl::StatusOr<model::InternVideoConfig> config =
      ValidateRecipe(recipe, rendezvous->world_size);
  if (!config.ok()) return config.status();
  absl::StatusOr<World> world = Rendezvous(*rendezvous);
  if (!world.ok()) return world.status();
  const int rank = world->rank(), world_size = world->world_size();
  const std::string output_dir =
      options.output_dir.empty() ? RecipeOutputDir(recipe) : options.output_dir;
  std::error_code error;
  std::filesystem::create_directories(output_dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("recipe.output_dir: cannot create ", output_dir, ": ",
                     error.message()));
  }

  torch::manual_seed(recipe.seed());
  model::InternVideoModel model(*config);
  if (model->masked_encoder() && !InitializesMaskedEncoder(recipe)) {
    // VideoMAE's finetuning init (truncated normal 0.02, head x 0.001)
    // assumes pretrained weights will overwrite it; from scratch, the
    // pretraining encoder's Xavier init learns several times faster
    // (docs/iv-tiny-experiments.md: 0.93 vs 0.69 top-1 after 1,000 steps).
    model::InitLinearsAndNorms(*model->masked_encoder(),
                               model::LinearInit::kXavierUniform);
  }
  for (int i = 0; i < recipe.init_size(); ++i) {
    absl::StatusOr<InitReport> loaded = LoadInitCheckpoint(
        recipe.init(i), model, absl::StrCat("recipe.init[", i, "]"));
    if (!loaded.ok()) return loaded.status();
  }

  std::unique_ptr<text::ClipTokenizer> tokenizer;
  std::string vocab_path;
  if (config->multimodal) {
    vocab_path = recipe.model().multimodal_encoder().tokenizer().vocab_path();
    if (!vocab_path.empty()) {
      absl::StatusOr<std::unique_ptr<text::ClipTokenizer>> loaded =
          text::ClipTokenizer::Load(vocab_path);
      if (!loaded.ok()) return loaded.status();
      tokenizer = std::move(*loaded);
    }
  }
  // Localization trains and evaluates on untrimmed videos, the rest on
  // trimmed clips.
  const bool untrimmed =
      recipe.objective_case() == TrainingRecipe::kLocalization;
  const std::vector<std::string> class_names(
      recipe.model().class_names().begin(), recipe.model().class_names().end());
  absl::StatusOr<Dataset> train_set =
      ReadDataset(recipe.train_data(), untrimmed, class_names);
  if (!train_set.ok()) return train_set.status();
  Dataset eval_set;
  if (recipe.has_eval_data()) {
    absl::StatusOr<Dataset> read =
        ReadDataset(recipe.eval_data(), untrimmed, class_names);
    if (!read.ok()) return read.status();
    eval_set = std::move(*read);
  }
  absl::StatusOr<std::unique_ptr<Objective>> objective =
      CreateObjective(recipe, *config, &*train_set, tokenizer.get());
  if (!objective.ok()) return objective.status();

  const model::NamedTensors trainable =
      SelectTrainable(model, **objective, recipe);
  if (trainable.empty()) {
    return absl::InvalidArgumentError(
        "recipe.frozen: every part the objective trains is frozen");
  }
  TrainingOptimizer optimizer(
      GroupParameters(
          trainable, recipe.optimizer(),
          config->masked_encoder ? config->masked_encoder->depth : 0),
      recipe.optimizer());

  TrainResult result;
  result.output_dir = output_dir;
  TrainerState state;
  state.seed = recipe.seed();
  absl::StatusOr<std::optional<CheckpointInfo>> resume_from =
      AgreeOnCheckpoint(*world, output_dir);
  if (!resume_from.ok()) return resume_from.status();
  if (resume_from->has_value()) {
    absl::StatusOr<TrainerState> resumed =
        LoadTrainingCheckpoint((*resume_from)->path, model, optimizer);
    if (!resumed.ok()) return resumed.status();
    state = *resumed;
    result.resumed_from_step = state.step;
    if (rank == 0) {
      TruncateLog(absl::StrCat(output_dir, "/", kMetricsLog), state.step);
    }
    result.final_checkpoint = (*resume_from)->path;
  }
  // Gradients are averaged over the ranks during backward (after the resume,
  // which loads the same weights everywhere; construction also broadcasts
  // rank 0's). Parameters no rank used keep no gradient, as in one process.
  std::unique_ptr<DataParallel> data_parallel;
  if (world_size > 1) {
    DataParallelOptions ddp_options;
    ddp_options.find_unused_parameters = true;
    absl::StatusOr<std::unique_ptr<DataParallel>> created =
        DataParallel::Create(*model, *world, ddp_options);
    if (!created.ok()) return created.status();
    data_parallel = std::move(*created);
  }

  absl::StatusOr<data::ClipLoaderOptions> cut =
      LoaderOptions(*config, recipe.train_data(), /*train=*/true);
  if (!cut.ok()) return cut.status();
  data::ClipLoaderOptions loader_options = *cut;
  loader_options.batch_size = recipe.global_batch_size() / world_size;
  loader_options.seed = recipe.seed();
  loader_options.rank = rank;
  loader_options.world_size = world_size;
  // Localization reads window features its objective computes once per
  // video: the loader only deals out the videos.
  loader_options.decode = !untrimmed;
  const std::vector<data::ClipSample> samples = DatasetSamples(*train_set);
  absl::StatusOr<std::unique_ptr<data::ClipLoader>> loader =
      data::ClipLoader::Create(samples, loader_options);
  if (!loader.ok()) return loader.status();
  if ((*loader)->batches_per_epoch() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "recipe.global_batch_size: ", recipe.global_batch_size(),
        " is more than the ", samples.size(), " training samples"));
  }
  (*loader)->StartEpoch(state.epoch, state.batch_in_epoch);

  const std::string log_path = absl::StrCat(output_dir, "/", kMetricsLog);
  const int64_t log_every =
      recipe.log_every_steps() > 0 ? recipe.log_every_steps() : 10;
  const bool lead = rank == 0;
  StepContext context;
  context.seed = recipe.seed();
  context.rank = rank;
  if (world_size > 1) {
    // Contrastive objectives see every rank's embeddings as negatives.
    context.gather_offset = int64_t{rank} * loader_options.batch_size;
    context.all_gather = [&world](const torch::Tensor& local) {
      absl::StatusOr<torch::Tensor> gathered = AllGather(*world, local);
      if (!gathered.ok())
        throw std::runtime_error(gathered.status().ToString());
      return *gathered;
    };
  }
  // Work only rank 0 does (evaluation, checkpoints) ends at a barrier, so
  // the other ranks neither race ahead nor time out in the next collective.
  auto on_lead = [&](const std::function<absl::Status()>& work) {
    absl::Status status = lead ? work() : absl::OkStatus();
    if (world_size > 1) {
      // A failure on rank 0 reaches the others as a failed barrier.
      if (!status.ok()) return status;
      if (absl::Status s = world->Barrier(); !s.ok()) return s;
    }
    return status;
  };

  auto evaluate = [&]() -> absl::StatusOr<Metrics> {
    if ((eval_set.clips.empty() && eval_set.videos.empty()) ||
        (*objective)->eval_task().empty()) {
      return Metrics{};
    }
    EvalOptions eval;
    eval.batch_size = loader_options.batch_size;
    return Evaluate(model, (*objective)->eval_task(), eval_set, tokenizer.get(),
                    eval);
  };
  auto checkpoint = [&]() -> absl::Status {
    if (absl::Status s = CheckRanksAgree(*world, trainable); !s.ok()) return s;
    return on_lead([&]() -> absl::Status {
      absl::StatusOr<std::string> written = WriteTrainingCheckpoint(
          output_dir, model, optimizer, state, vocab_path);
      if (!written.ok()) return written.status();
      result.final_checkpoint = *written;
      PruneTrainingCheckpoints(output_dir, recipe.keep_checkpoints());
      // The plot is a convenience: failing to draw it does not stop training.
      WriteTrainingCurves(log_path, absl::StrCat(output_dir, "/", kCurvesPlot),
                          recipe.name())
          .IgnoreError();
      if (options.on_progress) {
        TrainProgress progress;
        progress.step = state.step;
        progress.total_steps = recipe.total_steps();
        progress.loss = state.loss;
        progress.checkpoint = *written;
        options.on_progress(progress);
      }
      return absl::OkStatus();
    });
  };

  auto interval_start = std::chrono::steady_clock::now();
  int64_t interval_steps = 0;
  double interval_loss = 0;
  while (state.step < recipe.total_steps()) {
    absl::StatusOr<std::optional<data::ClipBatch>> batch = (*loader)->Next();
    if (!batch.ok()) return batch.status();
    if (!batch->has_value()) {
      ++state.epoch;
      state.batch_in_epoch = 0;
      (*loader)->StartEpoch(state.epoch);
      continue;
    }
    ++state.batch_in_epoch;
    context.step = state.step;
    context.epoch = state.epoch;
    // Dropout and drop path draw from the global generator: reseeding it
    // per step makes a resumed run draw what the uninterrupted one did.
    torch::manual_seed(data::MixSeed(recipe.seed(), state.step, rank));
    const double lr = ScheduledLearningRate(recipe.optimizer().learning_rate(),
                                            recipe.schedule(),
                                            recipe.total_steps(), state.step);
    optimizer.SetLearningRate(lr);
    optimizer.ZeroGrad();
    // Every rank must take part in the same collectives, so what decides
    // control flow (the loss's finiteness, a cancel request) is agreed on.
    double step_loss = 0;
    bool cancelled = options.cancel != nullptr && options.cancel->load();
    try {
      torch::Tensor loss = (*objective)->Loss(model, **batch, context);
      step_loss = loss.item<double>();
      if (world_size > 1) {
        absl::StatusOr<std::vector<double>> agreed = AllReduceScalars(
            *world, {step_loss, cancelled ? 1.0 : 0.0}, Reduction::kMean);
        if (!agreed.ok()) return agreed.status();
        step_loss = (*agreed)[0];
        cancelled = (*agreed)[1] > 0;
      }
      if (!std::isfinite(step_loss)) {
        return absl::InternalError(absl::StrCat(
            "the loss is not finite at step ", state.step,
            " (lower recipe.optimizer.learning_rate or set grad_clip_norm)"));
      }
      if (data_parallel) data_parallel->PrepareForBackward(loss);
      loss.backward();
      if (data_parallel) {
        if (absl::Status s = data_parallel->FinishGradientSync(); !s.ok()) {
          return s;
        }
      }
    } catch (const std::exception& error) {
      return StatusFromException(error,
                                 absl::StrCat("training step ", state.step));
    }
    optimizer.Step();
    ++state.step;
    ++interval_steps;
    interval_loss += step_loss;
    if (options.halt_after_steps > 0 &&
        state.step >= options.halt_after_steps) {
      return absl::AbortedError(
          absl::StrCat("halted after step ", state.step, " (test option)"));
    }

    const bool last = state.step == recipe.total_steps();
    if (state.step % log_every == 0 || last) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                        interval_start)
              .count();
      state.loss = interval_loss / interval_steps;
      TrainProgress progress;
      progress.step = state.step;
      progress.total_steps = recipe.total_steps();
      progress.loss = state.loss;
      progress.lr = lr;
      progress.clips_per_second =
          interval_steps * recipe.global_batch_size() / std::max(seconds, 1e-9);
      progress.eta_seconds = (recipe.total_steps() - state.step) * seconds /
                             std::max<int64_t>(interval_steps, 1);
      if (lead) {
        AppendLog(log_path, {{"step", state.step},
                             {"loss", state.loss},
                             {"lr", lr},
                             {"clips_per_second", progress.clips_per_second}});
        if (options.on_progress) options.on_progress(progress);
      }
      interval_start = std::chrono::steady_clock::now();
      interval_steps = 0;
      interval_loss = 0;
    }
    if ((recipe.eval_every_steps() > 0 &&
         state.step % recipe.eval_every_steps() == 0) ||
        last) {
      absl::Status evaluated = on_lead([&]() -> absl::Status {
        absl::StatusOr<Metrics> metrics = evaluate();
        if (!metrics.ok()) return metrics.status();
        if (metrics->empty()) return absl::OkStatus();
        state.metrics = *metrics;
        nlohmann::json event = {{"step", state.step}, {"eval", *metrics}};
        AppendLog(log_path, event);
        if (options.on_progress) {
          TrainProgress progress;
          progress.step = state.step;
          progress.total_steps = recipe.total_steps();
          progress.evaluation = true;
          progress.eval_metrics = *metrics;
          options.on_progress(progress);
        }
        return absl::OkStatus();
      });
      if (!evaluated.ok()) return evaluated;
    }
    if ((recipe.checkpoint_every_steps() > 0 &&
         state.step % recipe.checkpoint_every_steps() == 0) ||
        last || cancelled) {
      if (absl::Status s = checkpoint(); !s.ok()) return s;
    }
    if (cancelled) {
      return absl::CancelledError(
          absl::StrCat("cancelled after step ", state.step));
    }
  }
  result.steps = state.step;
  result.final_loss = state.loss;
  result.final_metrics = state.metrics;
  return result;
}

}  // namespace iv::trainer
