#include "encoder_service/encoder_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/serving/idle_watchdog.h"
#include "common/serving/status.h"

namespace iv::encoder {
namespace {

using serving::CancelledBy;
using serving::Reply;
using serving::ToGrpcStatus;

}  // namespace

grpc::Status EncoderServiceImpl::EmbedVideo(
    grpc::ServerContext* context,
    const internvideo::v1::EmbedVideoRequest* request,
    internvideo::v1::EmbedVideoResponse* response) {
  return Reply(encoder_->EmbedVideo(*request, CancelledBy(context)), response);
}

grpc::Status EncoderServiceImpl::EmbedVideoStream(
    grpc::ServerContext* context,
    grpc::ServerReader<internvideo::v1::EmbedVideoStreamRequest>* reader,
    internvideo::v1::EmbedVideoResponse* response) {
  const absl::Duration idle = encoder_->options().stream_idle_timeout;
  serving::IdleWatchdog watchdog(context, idle);
  auto went_quiet = [&] {
    return ToGrpcStatus(absl::DeadlineExceededError(absl::StrCat(
        "video.chunked: nothing arrived for ", absl::FormatDuration(idle),
        " (the server's --stream-idle-seconds); the upload was cancelled")));
  };
  internvideo::v1::EmbedVideoStreamRequest message;
  const bool first = reader->Read(&message);
  if (watchdog.fired()) return went_quiet();
  if (!first || !message.has_request()) {
    return ToGrpcStatus(serving::InvalidField(
        "request", "the stream's first message must carry the request"));
  }
  const internvideo::v1::EmbedVideoRequest request = message.request();
  if (!request.video().has_chunked()) {
    return ToGrpcStatus(serving::InvalidField(
        "video.chunked", "must be set: the bytes follow as chunks"));
  }
  const int64_t limit = encoder_->options().max_video_bytes;
  const int64_t announced = request.video().chunked().total_bytes();
  auto too_large = [limit](int64_t bytes) {
    return ToGrpcStatus(absl::ResourceExhaustedError(
        absl::StrCat("video.chunked: ", bytes,
                     " bytes, more than the "
                     "server's maximum video size of ",
                     limit, " bytes")));
  };
  if (announced > limit) return too_large(announced);
  std::string content;
  while (reader->Read(&message)) {
    watchdog.Touch();
    if (!message.has_chunk()) {
      return ToGrpcStatus(serving::InvalidField(
          "request", "only the stream's first message may carry it"));
    }
    content += message.chunk().data();
    if (static_cast<int64_t>(content.size()) > limit) {
      return too_large(content.size());
    }
  }
  if (watchdog.fired()) return went_quiet();
  if (announced > 0 && static_cast<int64_t>(content.size()) != announced) {
    return ToGrpcStatus(serving::InvalidField(
        "video.chunked.total_bytes",
        absl::StrCat("announced ", announced, " bytes, received ",
                     content.size())));
  }
  return Reply(encoder_->EmbedUploadedVideo(request, std::move(content),
                                            CancelledBy(context)),
               response);
}

grpc::Status EncoderServiceImpl::BatchEmbedVideos(
    grpc::ServerContext* context,
    const internvideo::v1::BatchEmbedVideosRequest* request,
    internvideo::v1::BatchEmbedVideosResponse* response) {
  return Reply(encoder_->BatchEmbedVideos(*request, CancelledBy(context)),
               response);
}

grpc::Status EncoderServiceImpl::EmbedText(
    grpc::ServerContext*, const internvideo::v1::EmbedTextRequest* request,
    internvideo::v1::EmbedTextResponse* response) {
  return Reply(encoder_->EmbedText(*request), response);
}

grpc::Status EncoderServiceImpl::GetModelInfo(
    grpc::ServerContext*, const internvideo::v1::GetModelInfoRequest* request,
    internvideo::v1::GetModelInfoResponse* response) {
  return Reply(encoder_->GetModelInfo(*request), response);
}

}  // namespace iv::encoder
