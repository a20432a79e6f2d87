// The gRPC layer of the captioner (protos/captioner_service.proto): it
// converts statuses; Captioner does the work.
#ifndef CAPTIONER_CAPTIONER_SERVICE_H_
#define CAPTIONER_CAPTIONER_SERVICE_H_

#include "captioner/captioner.h"
#include "protos/captioner_service.grpc.pb.h"

namespace iv::captioner {

class CaptionerServiceImpl final
    : public internvideo::v1::CaptionerService::Service {
 public:
  // `captioner` is not owned and must outlive the service.
  explicit CaptionerServiceImpl(Captioner* captioner) : captioner_(captioner) {}

  grpc::Status CaptionVideo(
      grpc::ServerContext* context,
      const internvideo::v1::CaptionVideoRequest* request,
      internvideo::v1::CaptionVideoResponse* response) override;
  grpc::Status BatchCaptionVideos(
      grpc::ServerContext* context,
      const internvideo::v1::BatchCaptionVideosRequest* request,
      internvideo::v1::BatchCaptionVideosResponse* response) override;

 private:
  Captioner* captioner_;
};

}  // namespace iv::captioner

#endif  // CAPTIONER_CAPTIONER_SERVICE_H_
