// trainer_server: the TrainerService over gRPC. Jobs run as `iv train`
// worker processes; their records live in RocksDB under --db.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "common/serving/flags.h"
#include "common/serving/ports.h"
#include "common/serving/server.h"
#include "trainer/service/job_manager.h"
#include "trainer/service/trainer_service.h"

namespace {

namespace fs = std::filesystem;

// The `iv` binary installed beside this one, or where Bazel builds it
// (bazel-bin/trainer/service/ -> bazel-bin/tools/iv/); empty if neither.
std::string DefaultIvBinary() {
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    for (const fs::path& candidate :
         {self.parent_path() / "iv",
          self.parent_path() / "../../tools/iv/iv"}) {
      if (access(candidate.c_str(), X_OK) == 0) {
        return candidate.lexically_normal().string();
      }
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "The InternVideo trainer service: runs training jobs from recipes as "
      "`iv train` worker processes, persists them, and publishes their "
      "final checkpoints for the encoder service."};
  iv::serving::ServerOptions server_options;
  iv::serving::AddServerFlags(app, server_options, iv::serving::kTrainerPort);
  iv::trainer::service::JobManagerOptions options;
  options.jobs_root = "trainer_jobs";
  std::string restart = "resume";
  double stop_grace_seconds = 60;
  double watch_idle_timeout_seconds = absl::ToDoubleSeconds(
      iv::trainer::service::TrainerServiceImpl::kDefaultWatchIdleTimeout);
  app.add_option("--jobs-root", options.jobs_root,
                 "folder holding one folder per job (recipe, worker log, "
                 "checkpoints); always an allowed root")
      ->capture_default_str();
  app.add_option("--db", options.db_path,
                 "RocksDB folder of job records (default: JOBS_ROOT/.jobs.db)");
  app.add_option("--allowed-roots", options.allowed_roots,
                 "further folders recipes may read (manifests, the videos "
                 "they list, init checkpoints, vocabularies) and write "
                 "under (default: --jobs-root only)")
      ->delimiter(',');
  app.add_option("--publish-root", options.publish_root,
                 "publish final checkpoints as PUBLISH_ROOT/MODEL/step-N/ "
                 "(empty: not published)");
  app.add_option("--iv-binary", options.iv_binary,
                 "the iv binary workers run (default: the one beside this "
                 "binary or in its Bazel output tree)");
  app.add_option("--max-jobs", options.max_active_jobs,
                 "jobs pending or running at once")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--on-restart", restart,
                 "jobs interrupted by a restart: resume (from their newest "
                 "checkpoint) or fail")
      ->capture_default_str()
      ->check(CLI::IsMember({"resume", "fail"}));
  app.add_option("--stop-grace-seconds", stop_grace_seconds,
                 "how long a stopping worker may finish its step before it "
                 "is killed")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--watch-idle-timeout-seconds", watch_idle_timeout_seconds,
                 "a WatchJob stream that sent nothing for this long ends "
                 "with UNAVAILABLE (clients watch again)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  if (options.db_path.empty()) {
    options.db_path = (fs::path(options.jobs_root) / ".jobs.db").string();
  }
  if (options.iv_binary.empty()) {
    options.iv_binary = DefaultIvBinary();
    if (options.iv_binary.empty()) {
      std::fprintf(stderr,
                   "trainer_server: --iv-binary is required (no iv "
                   "beside this binary)\n");
      return 2;
    }
  }
  options.on_restart = restart == "fail"
                           ? iv::trainer::service::OnRestart::kFail
                           : iv::trainer::service::OnRestart::kResume;
  options.stop_grace = absl::Seconds(stop_grace_seconds);

  auto jobs = iv::trainer::service::JobManager::Open(options);
  if (!jobs.ok()) {
    std::fprintf(stderr, "trainer_server: %s\n",
                 jobs.status().ToString().c_str());
    return 1;
  }
  iv::trainer::service::TrainerServiceImpl service(
      jobs->get(), absl::Seconds(watch_idle_timeout_seconds));
  auto server = iv::serving::Server::Start(server_options, {&service});
  if (!server.ok()) {
    std::fprintf(stderr, "trainer_server: %s\n",
                 server.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "trainer_server: serving on port %d, jobs in %s\n",
               (*server)->port(), options.jobs_root.c_str());
  (*server)->SetServing(true);
  (*server)->RunUntilSignal();
  return 0;  // the manager stops the workers; the next start resumes them
}
