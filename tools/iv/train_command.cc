#include "tools/iv/train_command.h"

#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/process/child_process.h"
#include "tools/iv/progress_bar.h"
#include "tools/iv/train_service_client.h"
#include "trainer/distributed/rendezvous.h"
#include "trainer/recipe.h"
#include "trainer/trainer.h"

namespace iv::cli {
namespace {

struct TrainArgs {
  std::string recipe;
  std::string output_dir;
  int nproc = 0;        // 0: recipe.world_size, else 1
  bool worker = false;  // started by the launcher below: never re-launch
};

std::atomic<bool> interrupted{false};
// SIGINTs and SIGTERMs the launcher received, each to be passed on to the
// ranks (a handler cannot safely reach them itself).
std::atomic<int> stop_requests{0};

constexpr int kMaxLocalWorkers = 256;

// This process's rank under a launcher (RANK), else 0.
int EnvRank() {
  const char* rank = std::getenv("RANK");
  return rank == nullptr ? 0 : std::atoi(rank);
}

bool UnderLauncher() { return std::getenv("RANK") != nullptr; }

std::string FormatMetrics(const trainer::Metrics& metrics) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : metrics) {
    parts.push_back(absl::StrFormat("%s %.4g", key, value));
  }
  return absl::StrJoin(parts, ", ");
}

// One rank of the job (or the whole job): trains in this process.
int RunTrain(const TrainArgs& args,
             const internvideo::v1::TrainingRecipe& recipe) {
  const std::string who = UnderLauncher()
                              ? absl::StrCat("iv train [rank ", EnvRank(), "]")
                              : "iv train";
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
  absl::StatusOr<trainer::TrainResult> result = trainer::Train(recipe, options);
  if (!result.ok()) {
    std::fprintf(stderr, "\n%s: %s\n", who.c_str(),
                 result.status().ToString().c_str());
    return result.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (EnvRank() != 0) return 0;  // rank 0 reports for the job
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

void RequestStop(int) {
  interrupted = true;
  ++stop_requests;
}

// The exit code a shell would report for a rank's wait status.
int ExitCode(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status)
                                : 128 + WTERMSIG(wait_status);
}

// As `torchrun --nproc_per_node N` on one host: starts N copies of this
// binary as ranks 0..N-1 over loopback, waits for them, and stops the others
// (SIGKILL) as soon as one fails. SIGINT and SIGTERM are forwarded, so each
// rank finishes its step and rank 0 writes a checkpoint.
int LaunchLocalWorkers(const TrainArgs& args, int nproc) {
  if (nproc > kMaxLocalWorkers) {
    std::fprintf(stderr, "iv train: --nproc %d is more than %d\n", nproc,
                 kMaxLocalWorkers);
    return 2;
  }
  const int port = trainer::FreeLoopbackPort();
  if (port <= 0) {
    std::fprintf(stderr, "iv train: no free TCP port on 127.0.0.1\n");
    return 1;
  }
  process::SpawnOptions spawn;
  spawn.program = "/proc/self/exe";
  spawn.argv = {"iv", "train", args.recipe, "--worker"};
  if (!args.output_dir.empty()) {
    spawn.argv.push_back("--output-dir");
    spawn.argv.push_back(args.output_dir);
  }
  spawn.env = {{"WORLD_SIZE", std::to_string(nproc)},
               {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
               {"MASTER_ADDR", "127.0.0.1"},
               {"MASTER_PORT", std::to_string(port)}};
  if (std::getenv("OMP_NUM_THREADS") == nullptr) {
    // As torchrun: ranks share the cores instead of each taking them all.
    const int threads = std::max<int>(
        1, static_cast<int>(std::thread::hardware_concurrency()) / nproc);
    spawn.env["OMP_NUM_THREADS"] = std::to_string(threads);
  }
  std::signal(SIGINT, RequestStop);
  std::signal(SIGTERM, RequestStop);

  std::vector<process::ChildProcess> ranks;
  auto kill_all = [&ranks] {
    for (const process::ChildProcess& rank : ranks) rank.Signal(SIGKILL);
  };
  for (int rank = 0; rank < nproc; ++rank) {
    spawn.env["RANK"] = spawn.env["LOCAL_RANK"] = std::to_string(rank);
    absl::StatusOr<process::ChildProcess> started = process::Spawn(spawn);
    if (!started.ok()) {
      std::fprintf(stderr, "iv train: cannot start rank %d: %s\n", rank,
                   std::string(started.status().message()).c_str());
      kill_all();
      for (process::ChildProcess& other : ranks) other.Wait();
      return 1;
    }
    ranks.push_back(*std::move(started));
  }

  int exit_code = 0;
  int forwarded_requests = 0;
  for (int running = nproc; running > 0;) {
    if (const int requests = stop_requests; requests > forwarded_requests) {
      forwarded_requests = requests;
      for (const process::ChildProcess& rank : ranks) rank.Signal(SIGTERM);
    }
    for (int rank = 0; rank < nproc; ++rank) {
      const std::optional<int> status = ranks[rank].TryWait();
      if (!status.has_value()) continue;
      --running;
      const int code = ExitCode(*status);
      if (code == 0 || exit_code != 0) continue;
      exit_code = code;
      // After Ctrl-C every rank stops on its own, rank 0 after its checkpoint.
      if (interrupted) continue;
      std::fprintf(stderr, "iv train: rank %d %s; stopping the other ranks\n",
                   rank, process::DescribeWaitStatus(*status).c_str());
      kill_all();
    }
    // Ranks are not waited for one by one: whichever fails first must stop
    // the others at once.
    if (running > 0) absl::SleepFor(absl::Milliseconds(10));
  }
  return exit_code;
}

int Run(const TrainArgs& args) {
  absl::StatusOr<internvideo::v1::TrainingRecipe> recipe =
      trainer::ReadRecipe(args.recipe);
  if (!recipe.ok()) {
    std::fprintf(stderr, "iv train: %s\n", recipe.status().ToString().c_str());
    return 2;
  }
  // Under torchrun, Slurm or our own launcher the environment names the
  // rank: run as that rank.
  if (args.worker || UnderLauncher()) return RunTrain(args, *recipe);
  const int nproc =
      args.nproc > 0 ? args.nproc : trainer::RecipeWorldSize(*recipe);
  if (nproc == 1) return RunTrain(args, *recipe);
  // Fail before starting processes when the recipe cannot run on N ranks.
  if (absl::Status s = trainer::ValidateRecipe(*recipe, nproc).status();
      !s.ok()) {
    std::fprintf(stderr, "iv train: %s\n", s.ToString().c_str());
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return LaunchLocalWorkers(args, nproc);
}

}  // namespace

void AddTrainCommand(CLI::App& iv) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* train = iv.add_subcommand(
      "train",
      "Train a model from a recipe (protobuf text, protos/training.proto).\n"
      "Resumes from the newest checkpoint in the output folder; Ctrl-C "
      "stops after a checkpoint. --nproc N trains data-parallel on N local "
      "processes.");
  train->add_option("recipe", args->recipe, "TrainingRecipe text file")
      ->required()
      ->check(CLI::ExistingFile);
  train->add_option("--output-dir", args->output_dir,
                    "Folder for checkpoints, metrics.jsonl and curves.svg "
                    "(default: the recipe's output_dir, else runs/NAME)");
  train
      ->add_option("--nproc", args->nproc,
                   "Data-parallel processes on this host, as torchrun "
                   "--nproc_per_node (default: the recipe's world_size, else "
                   "1). Under an external launcher (RANK set) the process "
                   "runs as that rank")
      ->check(CLI::Range(1, kMaxLocalWorkers));
  train->add_flag("--worker", args->worker, "one rank of a launched job")
      ->group("");
  auto service = std::make_shared<TrainServiceArgs>();
  AddTrainServiceFlags(*train, *service);
  train->callback([args, service] {
    if (!service->address.empty()) {
      std::exit(RunTrainOnService(args->recipe, args->output_dir, *service));
    }
    std::exit(Run(*args));
  });
}

}  // namespace iv::cli
