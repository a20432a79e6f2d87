#include "tools/iv/ingest.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/data/manifest.h"
#include "common/files/file_digest.h"
#include "common/serving/status.h"
#include "protos/encoder_service.grpc.pb.h"
#include "protos/index_service.grpc.pb.h"

namespace iv::cli {
namespace {

namespace fs = std::filesystem;
namespace v1 = internvideo::v1;

using serving::FromGrpcStatus;

// Labels from manifests, by absolute video path.
// The first span of a long video's moments, in seconds (halved while the
// encoder refuses it as too large).
constexpr double kMomentSpanS = 60;

using Labels = std::map<std::string, std::map<std::string, std::string>>;

absl::StatusOr<Labels> ReadLabels(const std::vector<std::string>& manifests) {
  Labels labels;
  for (const std::string& manifest : manifests) {
    auto canonical = [](const std::string& path) {
      std::error_code error;
      const fs::path resolved = fs::weakly_canonical(path, error);
      return error ? path : resolved.string();
    };
    auto actor = [&](const std::string& path, const data::ObjectDesc& desc) {
      labels[canonical(path)]["color"] = desc.color;
      labels[canonical(path)]["shape"] = desc.shape;
    };
    absl::StatusOr<std::vector<data::TrimmedClip>> clips =
        data::ReadTrimmedManifest(manifest);
    if (clips.ok()) {
      for (const data::TrimmedClip& clip : *clips) {
        actor(clip.path, clip.actor);
        labels[canonical(clip.path)]["action"] = clip.action;
        if (!clip.captions.empty()) {
          labels[canonical(clip.path)]["caption"] = clip.captions[0];
        }
      }
      continue;
    }
    absl::StatusOr<std::vector<data::UntrimmedVideo>> videos =
        data::ReadUntrimmedManifest(manifest);
    if (!videos.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifests: ", manifest, " is neither a trimmed (",
          clips.status().message(), ") nor an untrimmed manifest (",
          videos.status().message(), ")"));
    }
    for (const data::UntrimmedVideo& video : *videos) {
      actor(video.path, video.actor);
    }
  }
  return labels;
}

struct FileStat {
  int64_t size_bytes = 0;
  int64_t mtime_ns = 0;
};

absl::StatusOr<FileStat> Stat(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot stat ", path));
  }
  return FileStat{static_cast<int64_t>(info.st_size),
                  static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 +
                      info.st_mtim.tv_nsec};
}

v1::MetadataValue Text(const std::string& value) {
  v1::MetadataValue out;
  out.set_string_value(value);
  return out;
}
v1::MetadataValue Int(int64_t value) {
  v1::MetadataValue out;
  out.set_int_value(value);
  return out;
}
v1::MetadataValue Real(double value) {
  v1::MetadataValue out;
  out.set_double_value(value);
  return out;
}

int64_t IntField(const v1::Record& record, const std::string& key) {
  auto it = record.metadata().find(key);
  return it == record.metadata().end() ? -1 : it->second.int_value();
}

std::string SegmentId(const std::string& path, int64_t i) {
  return absl::StrCat(path, "#segment=", i);
}

// One ingest run's clients and totals, shared by its worker threads.
class Run {
 public:
  Run(const IngestOptions& options, Labels labels,
      const serving::Connection& encoder, const serving::Connection& index,
      const IngestProgress& progress)
      : options_(options),
        labels_(std::move(labels)),
        encoder_(encoder),
        index_(index),
        encoder_stub_(v1::EncoderService::NewStub(encoder.channel())),
        index_stub_(v1::IndexService::NewStub(index.channel())),
        progress_(progress) {}

  // Makes sure the collection exists and matches the encoder's space.
  absl::Status PrepareCollection() {
    v1::GetModelInfoRequest info_request;
    v1::GetModelInfoResponse info;
    absl::Status status = FromGrpcStatus(encoder_stub_->GetModelInfo(
        encoder_.NewContext(options_.call_timeout).get(), info_request, &info));
    if (!status.ok()) {
      return absl::Status(
          status.code(), absl::StrCat("encoder service at ", encoder_.address(),
                                      ": ", status.message()));
    }
    v1::GetCollectionRequest get;
    get.set_name(options_.collection);
    v1::Collection collection;
    status = FromGrpcStatus(index_stub_->GetCollection(
        index_.NewContext(options_.call_timeout).get(), get, &collection));
    if (status.code() == absl::StatusCode::kNotFound &&
        options_.create_collection) {
      v1::CreateCollectionRequest create;
      v1::Collection* spec = create.mutable_collection();
      spec->set_name(options_.collection);
      spec->set_dimension(info.embedding_dim());
      spec->set_metric(v1::METRIC_COSINE);
      spec->set_index_factory(options_.index_factory);
      spec->set_model_id(info.model().model_id());
      status = FromGrpcStatus(index_stub_->CreateCollection(
          index_.NewContext(options_.call_timeout).get(), create, &collection));
    }
    if (!status.ok()) {
      return absl::Status(
          status.code(),
          absl::StrCat("index service at ", index_.address(), ", collection '",
                       options_.collection, "': ", status.message()));
    }
    if (collection.dimension() != info.embedding_dim()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "collection '", options_.collection, "' holds ",
          collection.dimension(), "-dimensional vectors but the encoder's ",
          info.model().model_id(), " makes ", info.embedding_dim(),
          "; choose another --collection"));
    }
    return absl::OkStatus();
  }

  void Work(const std::vector<std::string>& files) {
    for (size_t i = next_++; i < files.size(); i = next_++) {
      const std::string& path = files[i];
      absl::StatusOr<bool> indexed = IngestOne(path);
      std::lock_guard<std::mutex> lock(mutex_);
      if (!indexed.ok()) {
        ++summary_.failed;
        summary_.errors.emplace_back(
            path,
            absl::StrCat(absl::StatusCodeToString(indexed.status().code()),
                         ": ", indexed.status().message()));
      } else if (*indexed) {
        ++summary_.indexed;
      } else {
        ++summary_.skipped;
      }
      if (progress_) progress_(summary_);
    }
  }

  IngestSummary summary() {
    std::lock_guard<std::mutex> lock(mutex_);
    return summary_;
  }
  void set_found(int64_t found) { summary_.found = found; }

 private:
  // The moments of a video too long for one EmbedVideo: `request` (its
  // segments, skip_video_embedding) for spans of the video that start on
  // the whole video's window grid and overlap by a window less a stride,
  // so that the windows are the ones one call over the whole video would
  // make. A span the encoder refuses as too large is halved.
  absl::Status EmbedMomentsBySpans(
      v1::EmbedVideoRequest request, double duration,
      google::protobuf::RepeatedPtrField<v1::SegmentEmbedding>& moments) {
    const double window = request.segments().window_s();
    const double stride = request.segments().stride_s() > 0
                              ? request.segments().stride_s()
                              : window / 2;  // the encoder's default
    double span = stride * std::max(1.0, std::floor(kMomentSpanS / stride));
    double start = 0;
    while (true) {
      // A last span shorter than a window: the whole video's last window
      // ends at its end.
      if (start > 0 && duration - start < window) start = duration - window;
      const double end = std::min(start + span + window - stride, duration);
      request.mutable_video()->mutable_segment()->set_start_s(start);
      request.mutable_video()->mutable_segment()->set_end_s(end);
      v1::EmbedVideoResponse part;
      absl::Status status = FromGrpcStatus(encoder_stub_->EmbedVideo(
          encoder_.NewContext(options_.call_timeout).get(), request, &part));
      if (absl::IsResourceExhausted(status) && span > stride) {
        span = stride * std::max(1.0, std::floor(span / 2 / stride));
        continue;
      }
      if (!status.ok()) return status;
      for (v1::SegmentEmbedding& moment : *part.mutable_segments()) {
        *moments.Add() = std::move(moment);
      }
      if (end >= duration) return absl::OkStatus();
      start += span;
    }
  }

  // True when embedded and upserted, false when skipped as unchanged.
  absl::StatusOr<bool> IngestOne(const std::string& path) {
    absl::StatusOr<FileStat> stat = Stat(path);
    if (!stat.ok()) return stat.status();

    v1::GetRequest get;
    get.set_collection(options_.collection);
    get.add_ids(path);
    v1::GetResponse existing;
    absl::Status status = FromGrpcStatus(index_stub_->Get(
        index_.NewContext(options_.call_timeout).get(), get, &existing));
    if (!status.ok()) return status;
    const v1::Record* old =
        existing.records_size() > 0 ? &existing.records(0) : nullptr;
    if (old != nullptr && IntField(*old, "size_bytes") == stat->size_bytes &&
        IntField(*old, "mtime_ns") == stat->mtime_ns) {
      return false;
    }
    absl::StatusOr<std::string> hash = files::Sha256File(path);
    if (!hash.ok()) return hash.status();

    v1::EmbedVideoRequest request;
    if (options_.upload) {
      std::ifstream in(path, std::ios::binary);
      request.mutable_video()->set_content(
          std::string(std::istreambuf_iterator<char>(in), {}));
    } else {
      request.mutable_video()->set_path(path);
    }
    if (options_.window_s > 0) {
      request.mutable_segments()->set_window_s(options_.window_s);
      request.mutable_segments()->set_stride_s(options_.stride_s);
      request.mutable_segments()->set_shorter_as_one_window(true);
    }
    v1::EmbedVideoResponse embedded;
    status = FromGrpcStatus(encoder_stub_->EmbedVideo(
        encoder_.NewContext(options_.call_timeout).get(), request, &embedded));
    if (absl::IsResourceExhausted(status) && request.has_segments()) {
      // Too many moments for one call: the whole video alone, then its
      // moments a span at a time.
      const v1::SlidingWindow windows = request.segments();
      request.clear_segments();
      status = FromGrpcStatus(encoder_stub_->EmbedVideo(
          encoder_.NewContext(options_.call_timeout).get(), request,
          &embedded));
      if (!status.ok()) return status;
      request.set_skip_video_embedding(true);
      *request.mutable_segments() = windows;
      status = EmbedMomentsBySpans(request, embedded.video_info().duration_s(),
                                   *embedded.mutable_segments());
    }
    if (!status.ok()) return status;

    const std::string name = fs::path(path).filename().string();
    auto describe = [&](v1::Record& record) {
      auto& metadata = *record.mutable_metadata();
      metadata["path"] = Text(path);
      metadata["name"] = Text(name);
      metadata["duration_s"] = Real(embedded.video_info().duration_s());
      if (auto it = labels_.find(path); it != labels_.end()) {
        for (const auto& [key, value] : it->second) metadata[key] = Text(value);
      }
    };
    v1::UpsertRequest upsert;
    upsert.set_collection(options_.collection);
    for (int i = 0; i < embedded.segments_size(); ++i) {
      v1::Record* record = upsert.add_records();
      record->set_id(SegmentId(path, i));
      *record->mutable_embedding() = embedded.segments(i).embedding();
      *record->mutable_segment() = embedded.segments(i).segment();
      describe(*record);
    }
    if (upsert.records_size() > 0) {
      v1::UpsertResponse done;
      status = FromGrpcStatus(index_stub_->Upsert(
          index_.NewContext(options_.call_timeout).get(), upsert, &done));
      if (!status.ok()) return status;
    }
    // Segments an earlier version of the file had beyond this one's count.
    const int64_t old_segments = old ? IntField(*old, "segment_count") : -1;
    if (old_segments > embedded.segments_size()) {
      v1::DeleteRequest stale;
      stale.set_collection(options_.collection);
      for (int64_t i = embedded.segments_size(); i < old_segments; ++i) {
        stale.add_ids(SegmentId(path, i));
      }
      v1::DeleteResponse deleted;
      status = FromGrpcStatus(index_stub_->Delete(
          index_.NewContext(options_.call_timeout).get(), stale, &deleted));
      if (!status.ok()) return status;
    }
    // The whole-video record last: its presence marks the file done.
    upsert.clear_records();
    v1::Record* whole = upsert.add_records();
    whole->set_id(path);
    *whole->mutable_embedding() = embedded.video_embedding();
    describe(*whole);
    auto& metadata = *whole->mutable_metadata();
    metadata["size_bytes"] = Int(stat->size_bytes);
    metadata["mtime_ns"] = Int(stat->mtime_ns);
    metadata["content_hash"] = Text(*hash);
    metadata["segment_count"] = Int(embedded.segments_size());
    v1::UpsertResponse done;
    status = FromGrpcStatus(index_stub_->Upsert(
        index_.NewContext(options_.call_timeout).get(), upsert, &done));
    if (!status.ok()) return status;
    std::lock_guard<std::mutex> lock(mutex_);
    summary_.segments += embedded.segments_size();
    return true;
  }

  const IngestOptions& options_;
  const Labels labels_;
  const serving::Connection& encoder_;
  const serving::Connection& index_;
  std::unique_ptr<v1::EncoderService::Stub> encoder_stub_;
  std::unique_ptr<v1::IndexService::Stub> index_stub_;
  const IngestProgress& progress_;
  std::atomic<size_t> next_{0};
  std::mutex mutex_;
  IngestSummary summary_;
};

}  // namespace

absl::StatusOr<std::vector<std::string>> FindVideos(
    const IngestOptions& options) {
  auto is_video = [&](const fs::path& path) {
    const std::string extension =
        absl::AsciiStrToLower(path.extension().string());
    return std::find(options.extensions.begin(), options.extensions.end(),
                     extension) != options.extensions.end();
  };
  std::vector<std::string> files;
  for (const std::string& root : options.paths) {
    std::error_code error;
    const fs::path absolute = fs::canonical(root, error);
    if (error) {
      return absl::InvalidArgumentError(
          absl::StrCat("paths: ", root, " does not exist"));
    }
    if (fs::is_regular_file(absolute)) {
      files.push_back(absolute.string());
      continue;
    }
    for (auto it = fs::recursive_directory_iterator(
             absolute, fs::directory_options::skip_permission_denied, error);
         !error && it != fs::recursive_directory_iterator();
         it.increment(error)) {
      if (it->is_regular_file(error) && is_video(it->path())) {
        files.push_back(it->path().string());
      }
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

absl::StatusOr<IngestSummary> Ingest(const IngestOptions& options,
                                     const serving::Connection& encoder,
                                     const serving::Connection& index,
                                     const IngestProgress& progress) {
  if (options.jobs < 1) {
    return absl::InvalidArgumentError("jobs: must be at least 1");
  }
  absl::StatusOr<std::vector<std::string>> files = FindVideos(options);
  if (!files.ok()) return files.status();
  absl::StatusOr<Labels> labels = ReadLabels(options.manifests);
  if (!labels.ok()) return labels.status();
  Run run(options, *std::move(labels), encoder, index, progress);
  if (absl::Status status = run.PrepareCollection(); !status.ok()) {
    return status;
  }
  run.set_found(static_cast<int64_t>(files->size()));
  std::vector<std::thread> workers;
  for (int i = 0; i < options.jobs; ++i) {
    workers.emplace_back([&] { run.Work(*files); });
  }
  for (std::thread& worker : workers) worker.join();
  return run.summary();
}

}  // namespace iv::cli
