#include "encoder_service/encoder.h"

#include <filesystem>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/serving/status.h"
#include "common/serving/video_source.h"

namespace iv::encoder {
namespace {

using internvideo::v1::EmbedVideoRequest;
using internvideo::v1::EmbedVideoResponse;
using serving::ClipRequest;
using serving::InvalidField;
using serving::ModelRegistry;
using serving::ModelSnapshot;
using serving::VideoClips;

// `vector` L2-normalized (as torch.nn.functional.normalize), with the
// model that made it.
void SetEmbedding(const torch::Tensor& vector, const ModelSnapshot& model,
                  internvideo::v1::Embedding* embedding) {
  const torch::Tensor unit =
      (vector / vector.norm().clamp_min(1e-12)).contiguous();
  const float* values = unit.data_ptr<float>();
  embedding->mutable_values()->Add(values, values + unit.numel());
  *embedding->mutable_model() = model.Ref();
}

// What a request's rows turn into: the mean of the whole video's views and
// of each window's views, each normalized.
EmbedVideoResponse Assemble(const VideoClips& clips,
                            const torch::Tensor& embeddings,
                            const ModelSnapshot& model) {
  EmbedVideoResponse response;
  *response.mutable_video_info() = clips.info;
  if (clips.video_rows > 0) {
    SetEmbedding(embeddings.slice(0, 0, clips.video_rows).mean(0), model,
                 response.mutable_video_embedding());
  }
  int64_t start = clips.video_rows;
  for (const internvideo::v1::TemporalSegment& window : clips.windows) {
    internvideo::v1::SegmentEmbedding* segment = response.add_segments();
    *segment->mutable_segment() = window;
    SetEmbedding(embeddings.slice(0, start, start + clips.views).mean(0), model,
                 segment->mutable_embedding());
    start += clips.views;
  }
  return response;
}

// What `request` asks to be cut from its video.
absl::StatusOr<ClipRequest> ClipsOf(const EmbedVideoRequest& request) {
  if (request.skip_video_embedding() && !request.has_segments()) {
    return InvalidField("skip_video_embedding",
                        "needs `segments` (otherwise nothing is embedded)");
  }
  ClipRequest clips;
  if (request.video().has_segment()) {  // the rest of `video` is not used
    *clips.video.mutable_segment() = request.video().segment();
  }
  clips.sampling = request.sampling();
  clips.whole_video = !request.skip_video_embedding();
  if (request.has_segments()) clips.windows = request.segments();
  return clips;
}

}  // namespace

Encoder::Encoder(const EncoderOptions& options, const ModelRegistry* registry)
    : options_(options),
      registry_(registry),
      decoders_(options.decode_threads),
      batcher_(options.batcher) {}

std::vector<absl::StatusOr<EmbedVideoResponse>> Encoder::EmbedVideos(
    const std::vector<const EmbedVideoRequest*>& requests,
    const Cancelled& cancelled, absl::Status* queue_full) {
  video::DecoderOptions decoding;
  decoding.cancelled = cancelled;
  struct Job {
    absl::StatusOr<std::shared_ptr<const ModelSnapshot>> model;
    std::future<absl::StatusOr<VideoClips>> decoding;
    absl::StatusOr<VideoClips> clips;
    std::future<absl::StatusOr<torch::Tensor>> embedding;
  };
  std::vector<Job> jobs(requests.size());
  // The decode tasks read `requests`: none may outlive this call, even one
  // that unwinds.
  absl::Cleanup wait_for_decoding = [&jobs] {
    for (Job& job : jobs) {
      if (job.decoding.valid()) job.decoding.wait();
    }
  };
  for (size_t i = 0; i < requests.size(); ++i) {
    Job& job = jobs[i];
    job.model = registry_->Find(requests[i]->model_id());
    if (!job.model.ok()) continue;
    job.decoding =
        decoders_.Submit([this, request = requests[i], model = *job.model,
                          &decoding]() -> absl::StatusOr<VideoClips> {
          absl::StatusOr<std::unique_ptr<video::VideoDecoder>> decoder =
              serving::OpenVideoSource(request->video(), options_.allowed_roots,
                                       decoding);
          if (!decoder.ok()) return decoder.status();
          absl::StatusOr<ClipRequest> clips = ClipsOf(*request);
          if (!clips.ok()) return clips.status();
          return serving::CutVideoClips(**decoder, *clips, *model,
                                        options_.clips);
        });
  }
  // Each video joins the batcher's queue as soon as it is decoded.
  for (Job& job : jobs) {
    if (!job.model.ok()) continue;
    job.clips = job.decoding.get();
    if (job.clips.ok() && cancelled && cancelled()) {
      job.clips = absl::CancelledError("the client cancelled");
    }
    if (job.clips.ok()) {
      job.embedding =
          batcher_.Submit(*job.model, Tower::kVideo, job.clips->rows);
    }
  }
  std::vector<absl::StatusOr<EmbedVideoResponse>> responses;
  for (Job& job : jobs) {
    if (!job.model.ok()) {
      responses.push_back(job.model.status());
    } else if (!job.clips.ok()) {
      responses.push_back(job.clips.status());
    } else {
      absl::StatusOr<torch::Tensor> embeddings = job.embedding.get();
      if (!embeddings.ok()) {
        // The batcher's only RESOURCE_EXHAUSTED is its full queue.
        if (queue_full != nullptr &&
            absl::IsResourceExhausted(embeddings.status())) {
          *queue_full = embeddings.status();
        }
        responses.push_back(embeddings.status());
      } else {
        responses.push_back(Assemble(*job.clips, *embeddings, **job.model));
      }
    }
  }
  return responses;
}

absl::StatusOr<EmbedVideoResponse> Encoder::EmbedVideo(
    const EmbedVideoRequest& request, const Cancelled& cancelled) {
  return std::move(EmbedVideos({&request}, cancelled, nullptr).front());
}

absl::StatusOr<EmbedVideoResponse> Encoder::EmbedUploadedVideo(
    EmbedVideoRequest request, std::string content,
    const Cancelled& cancelled) {
  if (content.empty()) return InvalidField("video.chunked", "no bytes arrived");
  // Setting the oneof's content replaces `chunked`; `segment` stays.
  request.mutable_video()->set_content(std::move(content));
  return EmbedVideo(request, cancelled);
}

absl::StatusOr<internvideo::v1::BatchEmbedVideosResponse>
Encoder::BatchEmbedVideos(
    const internvideo::v1::BatchEmbedVideosRequest& request,
    const Cancelled& cancelled) {
  if (request.requests().empty()) {
    return InvalidField("requests", "empty (send at least one video)");
  }
  if (request.requests_size() > options_.max_batch_videos) {
    return InvalidField(
        "requests",
        absl::StrCat(request.requests_size(), " videos, the server's limit is ",
                     options_.max_batch_videos));
  }
  if (absl::StatusOr<std::shared_ptr<const ModelSnapshot>> model =
          registry_->Find("");
      !model.ok() && absl::IsUnavailable(model.status())) {
    return model.status();
  }
  std::vector<const EmbedVideoRequest*> items;
  for (const EmbedVideoRequest& item : request.requests()) {
    items.push_back(&item);
  }
  // A full queue fails the whole call: the client should back off rather
  // than retry the items one by one.
  absl::Status queue_full;
  std::vector<absl::StatusOr<EmbedVideoResponse>> results =
      EmbedVideos(items, cancelled, &queue_full);
  if (!queue_full.ok()) return queue_full;
  internvideo::v1::BatchEmbedVideosResponse response;
  for (size_t i = 0; i < results.size(); ++i) {
    auto* result = response.add_results();
    if (results[i].ok()) {
      *result->mutable_response() = std::move(*results[i]);
    } else {
      result->mutable_error()->set_code(
          static_cast<int>(results[i].status().code()));
      result->mutable_error()->set_message(
          absl::StrCat("requests[", i, "].", results[i].status().message()));
    }
  }
  return response;
}

absl::StatusOr<internvideo::v1::EmbedTextResponse> Encoder::EmbedText(
    const internvideo::v1::EmbedTextRequest& request) {
  if (request.texts().empty()) {
    return InvalidField("texts", "empty (send at least one text)");
  }
  if (request.texts_size() > options_.max_texts) {
    return InvalidField("texts", absl::StrCat(request.texts_size(),
                                              " texts, the server's limit is ",
                                              options_.max_texts));
  }
  for (int i = 0; i < request.texts_size(); ++i) {
    const std::string field = absl::StrCat("texts[", i, "]");
    if (request.texts(i).empty()) return InvalidField(field, "empty");
    if (static_cast<int>(request.texts(i).size()) > options_.max_text_bytes) {
      return InvalidField(field, absl::StrCat(request.texts(i).size(),
                                              " bytes, the server's limit is ",
                                              options_.max_text_bytes));
    }
  }
  absl::StatusOr<std::shared_ptr<const ModelSnapshot>> model =
      registry_->Find(request.model_id());
  if (!model.ok()) return model.status();
  if ((*model)->loaded.tokenizer == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("model \"", (*model)->model_id,
                     "\" has no tokenizer (its config names no vocab_path)"));
  }
  const torch::Tensor tokens = (*model)->loaded.tokenizer->Tokenize(
      {request.texts().begin(), request.texts().end()},
      static_cast<int>((*model)->config().text.context_length));
  absl::StatusOr<torch::Tensor> embeddings =
      batcher_.Submit(*model, Tower::kText, tokens).get();
  if (!embeddings.ok()) return embeddings.status();
  internvideo::v1::EmbedTextResponse response;
  for (int64_t i = 0; i < embeddings->size(0); ++i) {
    SetEmbedding((*embeddings)[i], **model, response.add_embeddings());
  }
  return response;
}

absl::StatusOr<internvideo::v1::GetModelInfoResponse> Encoder::GetModelInfo(
    const internvideo::v1::GetModelInfoRequest& request) const {
  absl::StatusOr<std::shared_ptr<const ModelSnapshot>> found =
      registry_->Find(request.model_id());
  if (!found.ok()) return found.status();
  const ModelSnapshot& model = **found;
  internvideo::v1::GetModelInfoResponse response;
  *response.mutable_model() = model.Ref();
  response.set_is_default(true);
  response.set_embedding_dim(static_cast<int32_t>(model.config().embed_dim));
  *response.mutable_config() = model.loaded.model->config().proto;
  // The vocabulary as the checkpoint names it: its file name, never where
  // it lies on this server.
  std::string* vocab = response.mutable_config()
                           ->mutable_multimodal_encoder()
                           ->mutable_tokenizer()
                           ->mutable_vocab_path();
  *vocab = std::filesystem::path(*vocab).filename().string();
  response.set_parameter_count(model.parameter_count);
  const int64_t nanos = absl::ToUnixNanos(model.load_time);
  response.mutable_load_time()->set_seconds(nanos / 1000000000);
  response.mutable_load_time()->set_nanos(nanos % 1000000000);
  response.set_device(model.device.str());
  response.set_weights_sha256(model.weights_sha256);
  return response;
}

}  // namespace iv::encoder
