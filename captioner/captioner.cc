#include "captioner/captioner.h"

#include <cmath>
#include <future>
#include <random>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/serving/status.h"
#include "common/serving/video_source.h"

namespace iv::captioner {
namespace {

using internvideo::v1::Caption;
using internvideo::v1::DecodingOptions;
using internvideo::v1::VideoSource;
using serving::InvalidField;
using serving::ModelSnapshot;

// A generated caption as the API returns it: decoded as the evaluation
// decodes it (trainer/evaluation.cc), lower case, scored by its mean token
// log-probability.
absl::StatusOr<Caption> ToCaption(const model::GeneratedCaption& generated,
                                  const text::ClipTokenizer& tokenizer) {
  absl::StatusOr<std::string> text = tokenizer.Decode(
      std::vector<int>(generated.tokens.begin(), generated.tokens.end()));
  if (!text.ok()) {
    // The model's vocabulary is larger than its tokenizer's: a broken
    // checkpoint, not the caller's doing.
    return absl::FailedPreconditionError(
        absl::StrCat("the model generated a token its vocabulary lacks: ",
                     text.status().message()));
  }
  Caption caption;
  caption.set_text(absl::AsciiStrToLower(absl::StripAsciiWhitespace(*text)));
  caption.set_score(static_cast<float>(generated.score));
  return caption;
}

// A fresh 64-bit seed, for sampling requests that name none.
uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) | device();
}

// A batch item's error, its field path moved under `videos[i]`
// ("video.path: ..." -> "videos[2].path: ...").
internvideo::v1::ItemError ItemError(const absl::Status& status, size_t i) {
  internvideo::v1::ItemError error;
  error.set_code(static_cast<int>(status.code()));
  const std::string item = absl::StrCat("videos[", i, "]");
  absl::string_view message = status.message();
  if (absl::ConsumePrefix(&message, "video")) {
    error.set_message(absl::StrCat(item, message));
  } else {
    error.set_message(absl::StrCat(item, ": ", message));
  }
  return error;
}

}  // namespace

absl::StatusOr<model::CaptionGenerationOptions> ResolveDecoding(
    const DecodingOptions& decoding, const ModelSnapshot& model,
    int max_beam_width) {
  model::CaptionGenerationOptions generation;
  switch (decoding.method()) {
    case DecodingOptions::METHOD_UNSPECIFIED:
    case DecodingOptions::METHOD_GREEDY:
      generation.method = model::DecodingMethod::kGreedy;
      break;
    case DecodingOptions::METHOD_BEAM:
      generation.method = model::DecodingMethod::kBeam;
      if (decoding.beam_width() < 1 || decoding.beam_width() > max_beam_width) {
        return InvalidField(
            "decoding.beam_width",
            absl::StrCat("must be in [1, ", max_beam_width,
                         "] with METHOD_BEAM, got ", decoding.beam_width()));
      }
      generation.beam_size = decoding.beam_width();
      break;
    case DecodingOptions::METHOD_SAMPLING:
      generation.method = model::DecodingMethod::kSampling;
      break;
    default:
      return InvalidField("decoding.method",
                          absl::StrCat("unknown method ", decoding.method()));
  }
  const int64_t model_max = model.config().caption_decoder->max_length;
  generation.max_length = model_max;
  if (decoding.max_length() != 0) {
    if (decoding.max_length() < 2) {
      return InvalidField(
          "decoding.max_length",
          absl::StrCat("counts SOT and EOT, so it must be at least 2 (0 = "
                       "the model's ",
                       model_max, "), got ", decoding.max_length()));
    }
    if (decoding.max_length() > model_max) {
      return InvalidField(
          "decoding.max_length",
          absl::StrCat("the model's captions are at most ", model_max,
                       " tokens, got ", decoding.max_length()));
    }
    generation.max_length = decoding.max_length();
  }
  // Checked whatever the method: a negative temperature is never meant.
  if (!(decoding.temperature() >= 0) || std::isinf(decoding.temperature())) {
    return InvalidField("decoding.temperature",
                        absl::StrCat("must be positive (0 = 1.0), got ",
                                     decoding.temperature()));
  }
  generation.temperature =
      decoding.temperature() == 0 ? 1.0 : decoding.temperature();
  generation.seed = decoding.has_seed() ? decoding.seed() : RandomSeed();
  // Caption.score is the mean token log-probability, and beams are ranked
  // by it (the proto's METHOD_BEAM).
  generation.length_penalty = model::LengthPenalty::kAverage;
  generation.sot_token = model.loaded.tokenizer->start_of_text();
  generation.eot_token = model.loaded.tokenizer->end_of_text();
  return generation;
}

Captioner::Captioner(const CaptionerOptions& options,
                     const serving::ModelRegistry* registry)
    : options_(options),
      registry_(registry),
      decoders_(options.decode_threads) {}

absl::StatusOr<std::shared_ptr<const ModelSnapshot>> Captioner::Model(
    const std::string& model_id) const {
  absl::StatusOr<std::shared_ptr<const ModelSnapshot>> found =
      registry_->Find(model_id);
  if (!found.ok()) return found.status();
  const std::shared_ptr<const ModelSnapshot>& model = *found;
  if (!model->config().caption_decoder.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model \"", model->model_id,
        "\" has no caption decoder; serve a model trained for captioning "
        "(e.g. iv-tiny)"));
  }
  if (model->loaded.tokenizer == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("model \"", model->model_id,
                     "\" has no tokenizer (its config names no vocab_path)"));
  }
  return model;
}

absl::StatusOr<Captioner::Captions> Captioner::CaptionVideos(
    const std::string& model_id, const DecodingOptions& decoding,
    const std::vector<const VideoSource*>& videos,
    const serving::Cancelled& cancelled) {
  absl::StatusOr<std::shared_ptr<const ModelSnapshot>> found = Model(model_id);
  if (!found.ok()) return found.status();
  const ModelSnapshot& model = **found;
  absl::StatusOr<model::CaptionGenerationOptions> generation =
      ResolveDecoding(decoding, model, options_.max_beam_width);
  if (!generation.ok()) return generation.status();
  Captions captions;
  captions.model = model.Ref();
  std::vector<absl::StatusOr<Caption>>& results = captions.results;
  results.resize(videos.size());
  video::DecoderOptions decoder_options;
  decoder_options.cancelled = cancelled;
  std::vector<std::future<absl::StatusOr<torch::Tensor>>> pending;
  // The decode tasks read `videos`, `model` and `decoder_options`: none may
  // outlive this call, even one that unwinds.
  absl::Cleanup wait_for_decoding = [&pending] {
    for (auto& decoding : pending) {
      if (decoding.valid()) decoding.wait();
    }
  };
  for (const VideoSource* video : videos) {
    pending.push_back(
        decoders_.Submit([this, video, &model,
                          &decoder_options]() -> absl::StatusOr<torch::Tensor> {
          absl::StatusOr<std::unique_ptr<video::VideoDecoder>> decoder =
              serving::OpenVideoSource(*video, options_.allowed_roots,
                                       decoder_options);
          if (!decoder.ok()) return decoder.status();
          // The model's default sampling: one centred clip, centre crop.
          // Only the segment matters here: the bytes are not copied.
          serving::ClipRequest request;
          if (video->has_segment()) {
            *request.video.mutable_segment() = video->segment();
          }
          absl::StatusOr<serving::VideoClips> clips =
              serving::CutVideoClips(**decoder, request, model, options_.clips);
          if (!clips.ok()) return clips.status();
          return clips->rows;
        }));
  }
  std::vector<torch::Tensor> clips;
  std::vector<size_t> decoded;  // which videos the clips are
  for (size_t i = 0; i < videos.size(); ++i) {
    absl::StatusOr<torch::Tensor> rows = pending[i].get();
    if (!rows.ok()) {
      results[i] = rows.status();
      continue;
    }
    clips.push_back(*rows);
    decoded.push_back(i);
  }
  if (clips.empty()) return captions;
  std::vector<model::GeneratedCaption> generated;
  try {
    std::lock_guard<std::mutex> lock(generating_);
    torch::InferenceMode inference;
    model::InternVideoModelImpl& internvideo = *model.loaded.model.ptr();
    const torch::Tensor video = torch::cat(clips).to(model.device);
    // The decoder's own source: the multimodal encoder's frame tokens or
    // CMA's coordinated tokens.
    const torch::Tensor video_tokens =
        internvideo.CaptionVideoTokens(model.MaskedVideo(video), video);
    generated = model::GenerateCaptions(model.multimodal(),
                                        internvideo.caption_decoder(),
                                        video_tokens, *generation);
  } catch (const c10::Error& error) {
    const absl::Status failed = absl::InternalError(absl::StrCat(
        "caption generation failed: ", error.what_without_backtrace()));
    for (size_t i : decoded) results[i] = failed;
    return captions;
  }
  for (size_t j = 0; j < decoded.size(); ++j) {
    results[decoded[j]] = ToCaption(generated[j], *model.loaded.tokenizer);
  }
  return captions;
}

absl::StatusOr<internvideo::v1::CaptionVideoResponse> Captioner::CaptionVideo(
    const internvideo::v1::CaptionVideoRequest& request,
    const serving::Cancelled& cancelled) {
  absl::StatusOr<Captions> captions = CaptionVideos(
      request.model_id(), request.decoding(), {&request.video()}, cancelled);
  if (!captions.ok()) return captions.status();
  if (!captions->results[0].ok()) return captions->results[0].status();
  internvideo::v1::CaptionVideoResponse response;
  *response.mutable_caption() = std::move(*captions->results[0]);
  *response.mutable_model() = std::move(captions->model);
  return response;
}

absl::StatusOr<internvideo::v1::BatchCaptionVideosResponse>
Captioner::BatchCaptionVideos(
    const internvideo::v1::BatchCaptionVideosRequest& request,
    const serving::Cancelled& cancelled) {
  if (request.videos().empty()) {
    return InvalidField("videos", "empty (send at least one video)");
  }
  if (request.videos_size() > options_.max_batch) {
    return InvalidField(
        "videos",
        absl::StrCat(request.videos_size(), " videos, the server's limit is ",
                     options_.max_batch));
  }
  std::vector<const VideoSource*> videos;
  for (const VideoSource& video : request.videos()) videos.push_back(&video);
  absl::StatusOr<Captions> captions =
      CaptionVideos(request.model_id(), request.decoding(), videos, cancelled);
  if (!captions.ok()) return captions.status();
  internvideo::v1::BatchCaptionVideosResponse response;
  for (size_t i = 0; i < captions->results.size(); ++i) {
    auto* result = response.add_results();
    if (captions->results[i].ok()) {
      *result->mutable_caption() = std::move(*captions->results[i]);
    } else {
      *result->mutable_error() = ItemError(captions->results[i].status(), i);
    }
  }
  *response.mutable_model() = std::move(captions->model);
  return response;
}

}  // namespace iv::captioner
