// The encoder service's work, without gRPC: requests in, embeddings out.
// Videos are opened, decoded and cut into clips on a decode thread pool;
// their rows then queue for the batcher's compute thread together with
// every other request's. Each request takes the registry's current model
// snapshot when it starts and keeps it to the end, so its response names
// the model version that made every one of its vectors.
#ifndef ENCODER_SERVICE_ENCODER_H_
#define ENCODER_SERVICE_ENCODER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/serving/cancellation.h"
#include "common/serving/model_registry.h"
#include "common/serving/thread_pool.h"
#include "common/serving/video_clips.h"
#include "encoder_service/batcher.h"
#include "protos/encoder_service.pb.h"

namespace iv::encoder {

struct EncoderOptions {
  // Folders whose files video.path may name; empty = paths are refused.
  std::vector<std::string> allowed_roots;
  BatcherOptions batcher;
  int decode_threads = 2;
  serving::ClipLimits clips;
  int max_texts = 256;        // texts per EmbedText
  int max_text_bytes = 4096;  // per text
  int max_batch_videos = 64;  // requests per BatchEmbedVideos
  int64_t max_video_bytes = int64_t{512} << 20;  // streamed uploads
  // A streamed upload with no message for this long is cancelled.
  absl::Duration stream_idle_timeout = absl::Seconds(30);
};

class Encoder {
 public:
  // `registry` is not owned and must outlive the encoder.
  Encoder(const EncoderOptions& options,
          const serving::ModelRegistry* registry);

  // `cancelled` is polled while videos are decoded (the gRPC layer passes
  // its client's): a client that gives up stops the decoding it asked for.
  using Cancelled = serving::Cancelled;

  absl::StatusOr<internvideo::v1::EmbedVideoResponse> EmbedVideo(
      const internvideo::v1::EmbedVideoRequest& request,
      const Cancelled& cancelled = {});
  // A video uploaded in chunks (EmbedVideoStream): `request` has
  // video.chunked set, `content` holds the assembled file.
  absl::StatusOr<internvideo::v1::EmbedVideoResponse> EmbedUploadedVideo(
      internvideo::v1::EmbedVideoRequest request, std::string content,
      const Cancelled& cancelled = {});
  absl::StatusOr<internvideo::v1::BatchEmbedVideosResponse> BatchEmbedVideos(
      const internvideo::v1::BatchEmbedVideosRequest& request,
      const Cancelled& cancelled = {});
  absl::StatusOr<internvideo::v1::EmbedTextResponse> EmbedText(
      const internvideo::v1::EmbedTextRequest& request);
  absl::StatusOr<internvideo::v1::GetModelInfoResponse> GetModelInfo(
      const internvideo::v1::GetModelInfoRequest& request) const;

  const EncoderOptions& options() const { return options_; }
  BatcherStats batcher_stats() const { return batcher_.stats(); }

 private:
  // Every request decoded on the pool at once, then embedded in the same
  // batches as far as the batcher can; one result per request, in order.
  // `queue_full` (may be null) gets the batcher's refusal, if any.
  std::vector<absl::StatusOr<internvideo::v1::EmbedVideoResponse>> EmbedVideos(
      const std::vector<const internvideo::v1::EmbedVideoRequest*>& requests,
      const Cancelled& cancelled, absl::Status* queue_full);

  const EncoderOptions options_;
  const serving::ModelRegistry* registry_;
  serving::ThreadPool decoders_;
  Batcher batcher_;
};

}  // namespace iv::encoder

#endif  // ENCODER_SERVICE_ENCODER_H_
