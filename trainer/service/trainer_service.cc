#include "trainer/service/trainer_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/serving/status.h"

namespace iv::trainer::service {

using internvideo::v1::Job;
using serving::Reply;
using serving::ToGrpcStatus;

grpc::Status TrainerServiceImpl::SubmitJob(
    grpc::ServerContext*, const internvideo::v1::SubmitJobRequest* request,
    Job* response) {
  if (!request->has_recipe()) {
    return ToGrpcStatus(serving::InvalidField("recipe", "is required"));
  }
  return Reply(jobs_->Submit(request->recipe(), request->job_id()), response);
}

grpc::Status TrainerServiceImpl::GetJob(
    grpc::ServerContext*, const internvideo::v1::GetJobRequest* request,
    Job* response) {
  return Reply(jobs_->Get(request->job_id()), response);
}

grpc::Status TrainerServiceImpl::ListJobs(
    grpc::ServerContext*, const internvideo::v1::ListJobsRequest* request,
    internvideo::v1::ListJobsResponse* response) {
  return Reply(jobs_->List(*request), response);
}

grpc::Status TrainerServiceImpl::WatchJob(
    grpc::ServerContext* context,
    const internvideo::v1::WatchJobRequest* request,
    grpc::ServerWriter<internvideo::v1::JobProgress>* writer) {
  uint64_t seen = 0;
  const absl::Time deadline = absl::FromChrono(context->deadline());
  absl::Time last_sent = absl::Now();
  while (!context->IsCancelled()) {
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "the call's deadline passed");
    }
    if (now - last_sent >= watch_idle_timeout_) {
      return grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          absl::StrCat("job ", request->job_id(), " reported nothing for ",
                       absl::FormatDuration(watch_idle_timeout_),
                       " (the service's watch idle timeout, "
                       "--watch-idle-timeout-seconds); call WatchJob again "
                       "to go on watching"));
    }
    // A bounded wait, so a client that went away frees its thread within a
    // second.
    absl::StatusOr<std::vector<JobManager::Update>> updates =
        jobs_->WaitForUpdates(
            request->job_id(), seen,
            std::min({absl::Seconds(1), deadline - now,
                      last_sent + watch_idle_timeout_ - now}));
    if (!updates.ok()) return ToGrpcStatus(updates.status());
    for (const JobManager::Update& update : *updates) {
      if (!writer->Write(update.progress)) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "the client left");
      }
      seen = update.sequence;
      last_sent = absl::Now();
      if (update.final) return grpc::Status::OK;
    }
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled");
}

grpc::Status TrainerServiceImpl::CancelJob(
    grpc::ServerContext*, const internvideo::v1::CancelJobRequest* request,
    Job* response) {
  return Reply(jobs_->Cancel(request->job_id()), response);
}

grpc::Status TrainerServiceImpl::ListCheckpoints(
    grpc::ServerContext*,
    const internvideo::v1::ListCheckpointsRequest* request,
    internvideo::v1::ListCheckpointsResponse* response) {
  absl::StatusOr<std::vector<internvideo::v1::Checkpoint>> checkpoints =
      jobs_->ListCheckpoints(request->job_id());
  if (!checkpoints.ok()) return ToGrpcStatus(checkpoints.status());
  for (auto& checkpoint : *checkpoints) {
    *response->add_checkpoints() = std::move(checkpoint);
  }
  return grpc::Status::OK;
}

}  // namespace iv::trainer::service
