// Temporal action localization (LocalizationService.Localize) without gRPC:
// an untrimmed video -> scored action segments, computed as `iv eval
// --task localization` computes them (window features of the head's
// feature_window, the localization head, DecodeSegments with soft-NMS), so
// the service and the evaluation agree. Window features are cached per
// video and model version: asking again with other thresholds only reruns
// the head and the decoding.
#ifndef TASK_SERVICE_LOCALIZER_H_
#define TASK_SERVICE_LOCALIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/data/window_features.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/serving/model_registry.h"
#include "protos/task_service.pb.h"
#include "task_service/feature_cache.h"
#include "task_service/task_inputs.h"

namespace iv::tasks {

class Localizer {
 public:
  // `registry` is not owned and must outlive the localizer.
  Localizer(const TaskOptions& options, const serving::ModelRegistry* registry)
      : options_(options),
        registry_(registry),
        cache_(options.feature_cache_bytes) {}

  // Segments scoring at least score_threshold after soft-NMS (sigma
  // soft_nms_sigma, 0 = 0.5), best first, at most max_segments (0 = 100).
  // `cancelled` is polled while the video is decoded; a cancelled video's
  // features are not cached.
  absl::StatusOr<internvideo::v1::LocalizeResponse> Localize(
      const internvideo::v1::LocalizeRequest& request,
      const serving::Cancelled& cancelled = {});

  FeatureCacheStats cache_stats() const { return cache_.stats(); }

 private:
  // The video's window features under `model`, from the cache or computed.
  absl::StatusOr<std::shared_ptr<const data::WindowFeatures>> Features(
      const internvideo::v1::VideoSource& video,
      const serving::ModelSnapshot& model, const serving::Cancelled& cancelled);

  const TaskOptions options_;
  const serving::ModelRegistry* registry_;
  FeatureCache cache_;
};

}  // namespace iv::tasks

#endif  // TASK_SERVICE_LOCALIZER_H_
