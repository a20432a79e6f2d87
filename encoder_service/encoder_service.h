// The gRPC layer of the encoder service (protos/encoder_service.proto): it
// converts statuses and assembles streamed uploads; Encoder does the work.
#ifndef ENCODER_SERVICE_ENCODER_SERVICE_H_
#define ENCODER_SERVICE_ENCODER_SERVICE_H_

#include "encoder_service/encoder.h"
#include "protos/encoder_service.grpc.pb.h"

namespace iv::encoder {

class EncoderServiceImpl final
    : public internvideo::v1::EncoderService::Service {
 public:
  // `encoder` is not owned and must outlive the service.
  explicit EncoderServiceImpl(Encoder* encoder) : encoder_(encoder) {}

  grpc::Status EmbedVideo(
      grpc::ServerContext* context,
      const internvideo::v1::EmbedVideoRequest* request,
      internvideo::v1::EmbedVideoResponse* response) override;
  grpc::Status EmbedVideoStream(
      grpc::ServerContext* context,
      grpc::ServerReader<internvideo::v1::EmbedVideoStreamRequest>* reader,
      internvideo::v1::EmbedVideoResponse* response) override;
  grpc::Status BatchEmbedVideos(
      grpc::ServerContext* context,
      const internvideo::v1::BatchEmbedVideosRequest* request,
      internvideo::v1::BatchEmbedVideosResponse* response) override;
  grpc::Status EmbedText(grpc::ServerContext* context,
                         const internvideo::v1::EmbedTextRequest* request,
                         internvideo::v1::EmbedTextResponse* response) override;
  grpc::Status GetModelInfo(
      grpc::ServerContext* context,
      const internvideo::v1::GetModelInfoRequest* request,
      internvideo::v1::GetModelInfoResponse* response) override;

 private:
  Encoder* encoder_;
};

}  // namespace iv::encoder

#endif  // ENCODER_SERVICE_ENCODER_SERVICE_H_
