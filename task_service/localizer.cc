#include "task_service/localizer.h"

#include <cmath>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files/file_digest.h"
#include "common/model/internvideo/localization_head.h"
#include "common/serving/status.h"
#include "common/serving/video_source.h"
#include "common/video/clip_spec.h"

namespace iv::tasks {
namespace {

namespace fs = std::filesystem;
using internvideo::v1::LocalizeRequest;
using internvideo::v1::VideoSource;
using serving::InvalidField;

absl::Status CheckRequest(const LocalizeRequest& request) {
  // Written so that NaN fails too.
  if (!(request.score_threshold() >= 0 && request.score_threshold() <= 1)) {
    return InvalidField(
        "score_threshold",
        absl::StrCat("must be in [0, 1], got ", request.score_threshold()));
  }
  if (request.max_segments() < 0) {
    return InvalidField("max_segments", absl::StrCat("must be >= 0, got ",
                                                     request.max_segments()));
  }
  if (!(request.soft_nms_sigma() >= 0)) {
    return InvalidField(
        "soft_nms_sigma",
        absl::StrCat("must be >= 0, got ", request.soft_nms_sigma()));
  }
  if (request.video().has_segment()) {
    return InvalidField("video.segment",
                        "Localize reads the whole video (its window features "
                        "are cached per video); cut the part to send instead");
  }
  return absl::OkStatus();
}

// What identifies a video's bytes, as the feature cache's key: the file with
// its size and modification time (a rewritten file gets new features) or
// the SHA-256 of inline bytes.
absl::StatusOr<std::string> CacheKey(const VideoSource& video,
                                     const std::vector<std::string>& roots) {
  if (video.source_case() != VideoSource::kPath) {
    return absl::StrCat("sha256:", files::Sha256(video.content()));
  }
  absl::StatusOr<std::string> path =
      serving::ResolveVideoPath(video.path(), roots);
  if (!path.ok()) return path.status();
  std::error_code error;
  const uintmax_t size = fs::file_size(*path, error);
  const fs::file_time_type modified = fs::last_write_time(*path, error);
  if (error) {
    return absl::NotFoundError(
        absl::StrCat("video.path: \"", video.path(), "\": ", error.message()));
  }
  return absl::StrCat("file:", *path, ":", size, ":",
                      modified.time_since_epoch().count());
}

}  // namespace

absl::StatusOr<std::shared_ptr<const data::WindowFeatures>> Localizer::Features(
    const VideoSource& video, const serving::ModelSnapshot& model,
    const serving::Cancelled& cancelled) {
  absl::StatusOr<std::string> video_key =
      CacheKey(video, options_.allowed_roots);
  if (!video_key.ok()) return video_key.status();
  const std::string key =
      absl::StrCat(model.model_id, "\n", model.version, "\n", *video_key);
  if (std::shared_ptr<const data::WindowFeatures> cached = cache_.Find(key)) {
    return cached;
  }
  // Opening first gives the RPC's own errors ("video: ...", paths) and the
  // duration to check against one window.
  video::DecoderOptions decoding;
  decoding.cancelled = cancelled;
  absl::StatusOr<std::unique_ptr<video::VideoDecoder>> decoder =
      serving::OpenVideoSource(video, options_.allowed_roots, decoding);
  if (!decoder.ok()) return decoder.status();
  const double duration = (*decoder)->info().duration_s;
  const double window = model.loaded.model->config().localization->window_s;
  if (duration < window || (*decoder)->frame_times().empty()) {
    return InvalidField(
        "video", absl::StrFormat("%.2f s is shorter than the %.2f s window "
                                 "the localization head reads",
                                 duration, window));
  }
  absl::StatusOr<video::ClipSpec> spec =
      video::ResolveClipSpec(model.input, {}, options_.clips.max_clips);
  if (!spec.ok()) return spec.status();
  model::InternVideoModel network = model.loaded.model;
  absl::StatusOr<data::WindowFeatures> features = data::ComputeWindowFeatures(
      network, **decoder, *spec, options_.feature_batch,
      options_.max_localize_windows);
  if (!features.ok()) {
    const absl::Status& status = features.status();
    return absl::Status(
        status.code(),
        absl::StrCat("video: ", status.message(),
                     absl::IsResourceExhausted(status)
                         ? " (the server's --max-localize-windows); send a "
                           "shorter video or cut it into parts"
                         : ""));
  }
  auto shared =
      std::make_shared<const data::WindowFeatures>(std::move(*features));
  cache_.Insert(key, shared);
  return shared;
}

absl::StatusOr<internvideo::v1::LocalizeResponse> Localizer::Localize(
    const LocalizeRequest& request, const serving::Cancelled& cancelled) {
  if (absl::Status s = CheckRequest(request); !s.ok()) return s;
  absl::StatusOr<ModelPtr> found = registry_->Find(request.model_id());
  if (!found.ok()) return found.status();
  const serving::ModelSnapshot& model = **found;
  const model::InternVideoConfig& config = model.loaded.model->config();
  if (!config.localization) {
    return Lacks(model, "localization head",
                 "serve a model trained for temporal localization");
  }
  absl::StatusOr<std::shared_ptr<const data::WindowFeatures>> features =
      Features(request.video(), model, cancelled);
  if (!features.ok()) return features.status();

  c10::InferenceMode inference;
  const model::LocalizationOutput out =
      model.loaded.model.ptr()->localization_head()->forward(
          (*features)->features.unsqueeze(0).to(model.device));
  model::SegmentDecodingOptions decoding;
  decoding.score_threshold = request.score_threshold();
  if (request.max_segments() > 0)
    decoding.max_segments = request.max_segments();
  if (request.soft_nms_sigma() > 0) {
    decoding.soft_nms_sigma = request.soft_nms_sigma();
  }
  const std::vector<model::Segment> segments = model::DecodeSegments(
      out.class_logits[0].cpu(), out.offsets[0].cpu(), (*features)->centres_s,
      config.localization->stride_s, (*features)->duration_s, decoding);

  internvideo::v1::LocalizeResponse response;
  const auto& names = config.proto.class_names();
  for (const model::Segment& segment : segments) {
    internvideo::v1::ActionSegment* found_segment = response.add_segments();
    found_segment->mutable_segment()->set_start_s(segment.start_s);
    found_segment->mutable_segment()->set_end_s(segment.end_s);
    found_segment->set_label(segment.label < names.size()
                                 ? names[segment.label]
                                 : absl::StrCat(segment.label));
    found_segment->set_class_id(segment.label);
    found_segment->set_score(static_cast<float>(segment.score));
  }
  response.set_duration_s((*features)->duration_s);
  *response.mutable_model() = model.Ref();
  return response;
}

}  // namespace iv::tasks
