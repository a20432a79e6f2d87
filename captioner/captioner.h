// The captioner's work, without gRPC: videos in, captions out.
//
// A video is opened and cut into one clip (the model's default sampling,
// centred, one centre crop) on a decode thread pool; the clip's multimodal
// frame tokens feed the caption decoder, as `iv eval --task caption` feeds
// them (trainer/evaluation.cc), so the service and the evaluation agree on
// every caption. A batch's clips are generated together, one generation at
// a time: LibTorch's intra-op threads already use every core, so
// concurrent forwards would only oversubscribe them.
//
// Each request takes the registry's current model snapshot when it starts
// and keeps it to the end; its response names that model's version.
#ifndef CAPTIONER_CAPTIONER_H_
#define CAPTIONER_CAPTIONER_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/multimodal/caption_generation.h"
#include "common/serving/cancellation.h"
#include "common/serving/model_registry.h"
#include "common/serving/thread_pool.h"
#include "common/serving/video_clips.h"
#include "protos/captioner_service.pb.h"

namespace iv::captioner {

struct CaptionerOptions {
  // Folders whose files video.path may name; empty = paths are refused.
  std::vector<std::string> allowed_roots;
  int decode_threads = 2;
  serving::ClipLimits clips;
  int max_beam_width = 16;  // decoding.beam_width
  int max_batch = 32;       // videos per BatchCaptionVideos
};

class Captioner {
 public:
  // `registry` is not owned and must outlive the captioner.
  Captioner(const CaptionerOptions& options,
            const serving::ModelRegistry* registry);

  // `cancelled` is polled while videos are decoded (the gRPC layer passes
  // its client's): a client that gives up stops the decoding it asked for.
  absl::StatusOr<internvideo::v1::CaptionVideoResponse> CaptionVideo(
      const internvideo::v1::CaptionVideoRequest& request,
      const serving::Cancelled& cancelled = {});
  absl::StatusOr<internvideo::v1::BatchCaptionVideosResponse>
  BatchCaptionVideos(const internvideo::v1::BatchCaptionVideosRequest& request,
                     const serving::Cancelled& cancelled = {});

  const CaptionerOptions& options() const { return options_; }

 private:
  // The snapshot serving `model_id` as ModelRegistry::Find finds it, and
  // FAILED_PRECONDITION without a caption decoder or tokenizer.
  absl::StatusOr<std::shared_ptr<const serving::ModelSnapshot>> Model(
      const std::string& model_id) const;
  // What a call made: one result per video, in order, and the model.
  struct Captions {
    internvideo::v1::ModelRef model;
    std::vector<absl::StatusOr<internvideo::v1::Caption>> results;
  };
  // The captions of `videos` by the model `model_id` names, decoded as
  // `decoding` asks: every video decoded on the pool at once, then
  // captioned in one batch. The call fails as a whole only for the model
  // or the options.
  absl::StatusOr<Captions> CaptionVideos(
      const std::string& model_id,
      const internvideo::v1::DecodingOptions& decoding,
      const std::vector<const internvideo::v1::VideoSource*>& videos,
      const serving::Cancelled& cancelled);

  const CaptionerOptions options_;
  const serving::ModelRegistry* registry_;
  serving::ThreadPool decoders_;
  std::mutex generating_;  // one generation at a time
};

// The generation options `decoding` asks of `model`, every default filled
// in: INVALID_ARGUMENT naming the field (decoding.method,
// decoding.beam_width, decoding.max_length, decoding.temperature). An unset
// seed draws a fresh one. Beams are ranked, and scores given, by mean token
// log-probability.
absl::StatusOr<model::CaptionGenerationOptions> ResolveDecoding(
    const internvideo::v1::DecodingOptions& decoding,
    const serving::ModelSnapshot& model, int max_beam_width);

}  // namespace iv::captioner

#endif  // CAPTIONER_CAPTIONER_H_
