#include "trainer/service/trainer_service.h"

#include <utility>

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
  while (!context->IsCancelled()) {
    // A bounded wait, so a client that went away frees its thread soon.
    absl::StatusOr<std::vector<JobManager::Update>> updates =
        jobs_->WaitForUpdates(request->job_id(), seen, absl::Seconds(1));
    if (!updates.ok()) return ToGrpcStatus(updates.status());
    for (const JobManager::Update& update : *updates) {
      if (!writer->Write(update.progress)) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "the client left");
      }
      seen = update.sequence;
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
