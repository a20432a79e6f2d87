// The gRPC layer of the trainer service (protos/trainer_service.proto): it
// converts messages and statuses; JobManager does the work.
#ifndef TRAINER_SERVICE_TRAINER_SERVICE_H_
#define TRAINER_SERVICE_TRAINER_SERVICE_H_

#include "absl/time/time.h"
#include "protos/trainer_service.grpc.pb.h"
#include "trainer/service/job_manager.h"

namespace iv::trainer::service {

class TrainerServiceImpl final
    : public internvideo::v1::TrainerService::Service {
 public:
  // A WatchJob stream that has sent nothing for this long ends with
  // UNAVAILABLE, so watchers cannot hold a server thread forever; clients
  // watch again to go on (as after a restart). Envoy's default stream idle
  // timeout.
  static constexpr absl::Duration kDefaultWatchIdleTimeout = absl::Minutes(5);

  // `jobs` is not owned and must outlive the service.
  explicit TrainerServiceImpl(
      JobManager* jobs,
      absl::Duration watch_idle_timeout = kDefaultWatchIdleTimeout)
      : jobs_(jobs), watch_idle_timeout_(watch_idle_timeout) {}

  grpc::Status SubmitJob(grpc::ServerContext* context,
                         const internvideo::v1::SubmitJobRequest* request,
                         internvideo::v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context,
                      const internvideo::v1::GetJobRequest* request,
                      internvideo::v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context,
                        const internvideo::v1::ListJobsRequest* request,
                        internvideo::v1::ListJobsResponse* response) override;
  grpc::Status WatchJob(
      grpc::ServerContext* context,
      const internvideo::v1::WatchJobRequest* request,
      grpc::ServerWriter<internvideo::v1::JobProgress>* writer) override;
  grpc::Status CancelJob(grpc::ServerContext* context,
                         const internvideo::v1::CancelJobRequest* request,
                         internvideo::v1::Job* response) override;
  grpc::Status ListCheckpoints(
      grpc::ServerContext* context,
      const internvideo::v1::ListCheckpointsRequest* request,
      internvideo::v1::ListCheckpointsResponse* response) override;

 private:
  JobManager* jobs_;
  const absl::Duration watch_idle_timeout_;
};

}  // namespace iv::trainer::service

#endif  // TRAINER_SERVICE_TRAINER_SERVICE_H_
