#include "captioner/captioner_service.h"

#include "common/serving/status.h"

namespace iv::captioner {
namespace {

using serving::CancelledBy;
using serving::Reply;

}  // namespace

grpc::Status CaptionerServiceImpl::CaptionVideo(
    grpc::ServerContext* context,
    const internvideo::v1::CaptionVideoRequest* request,
    internvideo::v1::CaptionVideoResponse* response) {
  return Reply(captioner_->CaptionVideo(*request, CancelledBy(context)),
               response);
}

grpc::Status CaptionerServiceImpl::BatchCaptionVideos(
    grpc::ServerContext* context,
    const internvideo::v1::BatchCaptionVideosRequest* request,
    internvideo::v1::BatchCaptionVideosResponse* response) {
  return Reply(captioner_->BatchCaptionVideos(*request, CancelledBy(context)),
               response);
}

}  // namespace iv::captioner
