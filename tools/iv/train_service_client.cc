#include "tools/iv/train_service_client.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/serving/flags.h"
#include "protos/trainer_service.grpc.pb.h"
#include "tools/iv/progress_bar.h"
#include "trainer/recipe.h"

namespace iv::cli {
namespace {

using internvideo::v1::JobProgress;
using internvideo::v1::JobState;

// A watch lasts as long as training; a restarting service ends the stream,
// and the job goes on, so the client reconnects this many times.
constexpr int kWatchRetries = 30;

std::string StateName(JobState state) {
  std::string name = internvideo::v1::JobState_Name(state);
  return name.substr(name.rfind('_') + 1);
}

std::string FormatMetrics(const JobProgress& p) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : p.eval_metrics()) {
    parts.push_back(absl::StrFormat("%s %.4g", key, value));
  }
  std::sort(parts.begin(), parts.end());  // a proto map has no order
  return absl::StrJoin(parts, ", ");
}

bool IsFinal(JobState state) {
  return state == internvideo::v1::JOB_STATE_SUCCEEDED ||
         state == internvideo::v1::JOB_STATE_FAILED ||
         state == internvideo::v1::JOB_STATE_CANCELLED;
}

int Fail(const grpc::Status& status, const std::string& what) {
  std::fprintf(stderr, "\niv train: %s: %s: %s\n", what.c_str(),
               absl::StatusCodeToString(
                   static_cast<absl::StatusCode>(status.error_code()))
                   .c_str(),
               status.error_message().c_str());
  return status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? 2 : 1;
}

}  // namespace

void AddTrainServiceFlags(CLI::App& train, TrainServiceArgs& args) {
  train.add_option("--service", args.address,
                   "Submit to the trainer service at HOST:PORT and watch the "
                   "job there instead of training here");
  train.add_option("--job-id", args.job_id,
                   "With --service: the job's id (default: assigned)");
  serving::AddConnectionFlags(train, args.connection);
}

int RunTrainOnService(const std::string& recipe_path,
                      const std::string& output_dir,
                      const TrainServiceArgs& args) {
  absl::StatusOr<internvideo::v1::TrainingRecipe> recipe = trainer::ReadRecipe(
      std::filesystem::absolute(recipe_path).lexically_normal().string());
  if (!recipe.ok()) {
    std::fprintf(stderr, "iv train: %s\n", recipe.status().ToString().c_str());
    return 2;
  }
  if (!output_dir.empty()) {
    recipe->set_output_dir(std::filesystem::absolute(output_dir).string());
  }
  absl::StatusOr<serving::Connection> connection =
      serving::Connection::Open(args.address, args.connection);
  if (!connection.ok()) {
    std::fprintf(stderr, "iv train: %s\n",
                 connection.status().ToString().c_str());
    return 1;
  }
  auto stub = internvideo::v1::TrainerService::NewStub(connection->channel());

  internvideo::v1::SubmitJobRequest submit;
  *submit.mutable_recipe() = *recipe;
  submit.set_job_id(args.job_id);
  internvideo::v1::Job job;
  grpc::Status status = stub->SubmitJob(
      connection->NewContext(absl::Seconds(60)).get(), submit, &job);
  if (!status.ok()) return Fail(status, "submit");
  std::fprintf(stderr, "iv train: job %s on %s, output in %s\n",
               job.job_id().c_str(), args.address.c_str(),
               job.output_dir().c_str());

  ProgressBar bar("steps");
  JobProgress last = job.progress();
  for (int attempt = 0; !IsFinal(last.state()); ++attempt) {
    internvideo::v1::WatchJobRequest watch;
    watch.set_job_id(job.job_id());
    std::unique_ptr<grpc::ClientContext> context =
        connection->NewContext(absl::Hours(24 * 365));
    auto reader = stub->WatchJob(context.get(), watch);
    JobProgress progress;
    int64_t eval_step = last.eval_step();
    while (reader->Read(&progress)) {
      if (progress.eval_step() > eval_step) {
        eval_step = progress.eval_step();
        std::fprintf(stderr, "\nstep %lld eval: %s\n",
                     static_cast<long long>(eval_step),
                     FormatMetrics(progress).c_str());
      }
      if (progress.step() > 0) {
        bar.Update(progress.step(), progress.total_steps(),
                   absl::StrFormat("loss %.4f  lr %.2e  %.1f clips/s",
                                   progress.loss(), progress.learning_rate(),
                                   progress.clips_per_second()),
                   -1,
                   progress.has_eta()
                       ? static_cast<double>(progress.eta().seconds())
                       : -1);
      }
      last = progress;
    }
    status = reader->Finish();
    if (IsFinal(last.state())) break;
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
        attempt == kWatchRetries) {
      return Fail(status, absl::StrCat("watching job ", job.job_id()));
    }
    absl::SleepFor(absl::Seconds(2));
  }

  internvideo::v1::GetJobRequest get;
  get.set_job_id(job.job_id());
  status =
      stub->GetJob(connection->NewContext(absl::Seconds(60)).get(), get, &job);
  if (!status.ok()) return Fail(status, "get job");
  if (job.state() != internvideo::v1::JOB_STATE_SUCCEEDED) {
    std::fprintf(stderr, "\niv train: job %s %s%s%s\n", job.job_id().c_str(),
                 StateName(job.state()).c_str(),
                 job.error().empty() ? "" : ": ", job.error().c_str());
    return 1;
  }
  std::printf(
      "iv train: job %s SUCCEEDED: %lld steps, final loss %.4f%s\n",
      job.job_id().c_str(), static_cast<long long>(job.progress().step()),
      job.progress().loss(),
      job.progress().eval_metrics().empty()
          ? ""
          : absl::StrCat(", eval: ", FormatMetrics(job.progress())).c_str());
  internvideo::v1::ListCheckpointsRequest list;
  list.set_job_id(job.job_id());
  internvideo::v1::ListCheckpointsResponse checkpoints;
  if (stub->ListCheckpoints(connection->NewContext(absl::Seconds(60)).get(),
                            list, &checkpoints)
          .ok() &&
      checkpoints.checkpoints_size() > 0) {
    const internvideo::v1::Checkpoint& final_checkpoint =
        checkpoints.checkpoints(checkpoints.checkpoints_size() - 1);
    std::printf("  checkpoint: %s\n", final_checkpoint.path().c_str());
    if (final_checkpoint.has_published_as()) {
      std::printf("  published:  %s %s\n",
                  final_checkpoint.published_as().model_id().c_str(),
                  final_checkpoint.published_as().version().c_str());
    }
  }
  return 0;
}

}  // namespace iv::cli
