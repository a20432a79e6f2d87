// The trainer service's library: training jobs run as worker processes of
// the `iv` binary (`iv train RECIPE --output-dir DIR`), persisted in a
// JobStore, watched through the job folder's metrics.jsonl, cancelled by
// signals, and their final checkpoints published for serving. The gRPC layer
// (trainer_service.h) only converts messages and statuses.
//
// Folders:
//   <jobs_root>/<job id>/recipe.textproto   the recipe the worker runs
//   <jobs_root>/<job id>/worker.log         the worker's stdout and stderr
//   <output_dir>/                           checkpoints/, metrics.jsonl,
//                                           curves.svg (the job folder
//                                           itself unless the recipe names
//                                           one under an allowed root)
//   <publish_root>/<model id>/<step-N>/     published final checkpoints
//
// Workers are processes rather than threads so that a crashing or
// out-of-memory run cannot take the service down, a job can span several
// processes (data parallel), and cancelling is a signal the trainer already
// handles (it stops at the next step boundary).
#ifndef TRAINER_SERVICE_JOB_MANAGER_H_
#define TRAINER_SERVICE_JOB_MANAGER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/files/allowed_roots.h"
#include "common/process/child_process.h"
#include "common/process/log_follower.h"
#include "protos/trainer_service.pb.h"
#include "trainer/service/job_store.h"

namespace iv::trainer::service {

// What happens to jobs that were PENDING or RUNNING when the service stopped
// (their workers die with it).
enum class OnRestart {
  // Launch them again: the trainer resumes from the newest checkpoint in
  // the output folder, so only the steps since it are lost.
  kResume,
  // Mark them FAILED with the reason.
  kFail,
};

struct JobManagerOptions {
  // The RocksDB folder of job records.
  std::string db_path;
  // Holds a folder per job; always an allowed root.
  std::string jobs_root;
  // Further folders recipes may read (manifests and the videos they list,
  // init checkpoints, the tokenizer vocabulary) and write (output_dir)
  // under. Empty: only jobs_root.
  std::vector<std::string> allowed_roots;
  // Where final checkpoints are published; empty = not published.
  std::string publish_root;
  // The `iv` binary workers run.
  std::string iv_binary;
  // Jobs PENDING or RUNNING at once; more are RESOURCE_EXHAUSTED.
  int max_active_jobs = 4;
  // How often workers' logs and exit statuses are read.
  absl::Duration poll_interval = absl::Milliseconds(200);
  // How long a cancelled or shut-down worker may take to stop (it finishes
  // its step first) before it is killed.
  absl::Duration stop_grace = absl::Seconds(60);
  OnRestart on_restart = OnRestart::kResume;
};

class JobManager {
 public:
  // Opens the store and takes up its jobs (see OnRestart).
  static absl::StatusOr<std::unique_ptr<JobManager>> Open(
      JobManagerOptions options);

  // Stops the workers as a service shutdown does (SIGTERM: they write a
  // checkpoint; SIGKILL after stop_grace) and leaves their records RUNNING,
  // so the next Open treats them as interrupted.
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Validates `recipe` and starts a job (PENDING until its worker runs).
  // INVALID_ARGUMENT naming the field ("recipe.optimizer.learning_rate: ..."
  // or "job_id: ..."); PERMISSION_DENIED naming the field for a path (or a
  // manifest's video) outside the allowed roots, and for an output_dir that
  // is, holds or lies in the jobs root (other than the job's own folder),
  // the job database or another job's output folder; ALREADY_EXISTS for a
  // taken job_id, or a model id another job publishes under (or that is in
  // the publish root already); RESOURCE_EXHAUSTED when max_active_jobs run.
  // No message quotes a file's content. Returns once the record is durable.
  absl::StatusOr<internvideo::v1::Job> Submit(
      internvideo::v1::TrainingRecipe recipe, const std::string& job_id);

  // NOT_FOUND for an unknown id.
  absl::StatusOr<internvideo::v1::Job> Get(const std::string& job_id) const;

  // Newest first. INVALID_ARGUMENT for a bad page_token or page_size.
  absl::StatusOr<internvideo::v1::ListJobsResponse> List(
      const internvideo::v1::ListJobsRequest& request) const;

  // Signals the worker to stop and marks the job CANCELLED at once (durably,
  // so a restart does not resume it). CANCELLED again is fine;
  // FAILED_PRECONDITION for SUCCEEDED or FAILED; NOT_FOUND.
  absl::StatusOr<internvideo::v1::Job> Cancel(const std::string& job_id);

  // The job's kept checkpoints, oldest first. NOT_FOUND.
  absl::StatusOr<std::vector<internvideo::v1::Checkpoint>> ListCheckpoints(
      const std::string& job_id) const;

  // A watcher's cursor: progress reports are numbered per job from 1.
  struct Update {
    internvideo::v1::JobProgress progress;
    uint64_t sequence = 0;
    bool final = false;  // the job is in a final state
  };
  // The reports after `after` (after = 0: the latest one only), waiting up
  // to `timeout` for one to come; empty when none came. A watcher that fell
  // behind the kept history gets the reports still kept. NOT_FOUND.
  absl::StatusOr<std::vector<Update>> WaitForUpdates(const std::string& job_id,
                                                     uint64_t after,
                                                     absl::Duration timeout);

 private:
  struct Entry {
    internvideo::v1::Job job;
    process::ChildProcess worker;                 // leads its own process group
    process::LogPosition metrics_position;        // of metrics.jsonl
    absl::Time kill_at = absl::InfiniteFuture();  // SIGKILL if still alive
    std::deque<Update> history;  // recent reports, oldest first
    uint64_t next_sequence = 1;
  };

  explicit JobManager(const JobManagerOptions& options,
                      std::unique_ptr<JobStore> store);

  // The monitor thread: launches PENDING jobs, reads logs, reaps workers.
  // It alone spawns, so the workers' parent-death signal (sent when the
  // spawning thread ends) fires exactly when the service goes away.
  void Monitor();
  void Launch(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReadMetrics(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finish(Entry& entry, int wait_status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopWorkers() ABSL_LOCKS_EXCLUDED(mu_);
  // Records a report of the job's current progress and wakes watchers.
  void Report(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores the job durably. Failures are also logged: the monitor cannot
  // return them, and the in-memory state stays right for the next write.
  absl::Status Persist(const Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The recipe's input paths and output_dir under the roots, before
  // anything is opened, so no answer reveals a file outside them.
  absl::Status CheckRoots(internvideo::v1::TrainingRecipe& recipe,
                          const std::string& output_dir) const;
  // Every video the recipe's manifests list under the roots.
  absl::Status CheckManifestVideos(
      const internvideo::v1::TrainingRecipe& recipe) const;
  // output_dir clear of the jobs root, the database and other jobs.
  absl::Status CheckOutputDir(const std::string& job_id,
                              const std::string& output_dir) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The job that owns `model_id`: the first created that publishes under
  // it; null when none does.
  const internvideo::v1::Job* ModelOwner(const std::string& model_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string JobDir(const std::string& job_id) const;
  absl::Status Publish(const internvideo::v1::Job& job,
                       const std::string& checkpoint) const;

  const JobManagerOptions options_;
  // jobs_root and allowed_roots.
  const files::AllowedRoots roots_;
  std::unique_ptr<JobStore> store_;
  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // a report was made, or shutdown began
  std::map<std::string, Entry> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread monitor_;
};

// The model id a job's checkpoints are published under: the model's name,
// else the recipe's, else the job id.
std::string PublishedModelId(const internvideo::v1::Job& job);
// The request field PublishedModelId took it from ("recipe.model.name",
// "recipe.name" or "job_id").
std::string PublishedModelField(const internvideo::v1::Job& job);

}  // namespace iv::trainer::service

#endif  // TRAINER_SERVICE_JOB_MANAGER_H_
