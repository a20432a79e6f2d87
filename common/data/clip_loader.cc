#include "common/data/clip_loader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/video/cut_clips.h"
#include "common/video/decoder.h"

namespace iv::data {
// SplitMix64's finalizer: spreads (seed, epoch, sample) into an engine seed
// so that neighbouring samples get unrelated random streams.
uint64_t MixSeed(uint64_t seed, int64_t epoch, int64_t sample) {
  uint64_t x =
      seed ^ (0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(epoch + 1));
  x ^= 0xbf58476d1ce4e5b9ULL * static_cast<uint64_t>(sample + 2);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

namespace {

absl::Status CheckOptions(const ClipLoaderOptions& o, size_t num_samples) {
  auto bad = [](const char* field, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  if (num_samples == 0) return bad("samples", "the dataset is empty");
  if (o.clip.num_frames <= 0) return bad("clip.num_frames", "must be positive");
  if (o.clip.frame_interval <= 0) {
    return bad("clip.frame_interval", "must be positive");
  }
  if (o.clip.crop_size <= 0) return bad("clip.crop_size", "must be positive");
  if (o.clip.short_side < o.clip.crop_size) {
    return bad("clip.short_side", "must be at least crop_size");
  }
  if (o.clip.num_clips != 1 || o.clip.three_crop) {
    return bad("clip",
               "the loader cuts one view per sample: num_clips 1, "
               "centre crop");
  }
  if (o.batch_size <= 0) return bad("batch_size", "must be positive");
  if (o.workers <= 0) return bad("workers", "must be positive");
  if (o.prefetch_batches <= 0)
    return bad("prefetch_batches", "must be positive");
  if (o.world_size <= 0) return bad("world_size", "must be positive");
  if (o.rank < 0 || o.rank >= o.world_size) {
    return bad("rank", absl::StrCat("must be in [0, ", o.world_size, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClipLoader>> ClipLoader::Create(
    std::vector<ClipSample> samples, const ClipLoaderOptions& options) {
  absl::Status valid = CheckOptions(options, samples.size());
  if (!valid.ok()) return valid;
  std::unique_ptr<ClipLoader> loader(
      new ClipLoader(std::move(samples), options));
  loader->StartEpoch(0);
  return loader;
}

ClipLoader::ClipLoader(std::vector<ClipSample> samples,
                       const ClipLoaderOptions& options)
    : samples_(std::move(samples)), options_(options) {
  for (int i = 0; i < options_.workers; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

ClipLoader::~ClipLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

int64_t ClipLoader::samples_per_rank() const {
  const int64_t n = static_cast<int64_t>(samples_.size());
  const int64_t per_rank = (n + options_.world_size - 1) / options_.world_size;
  return options_.train ? per_rank / options_.batch_size * options_.batch_size
                        : per_rank;
}

int64_t ClipLoader::batches_per_epoch() const {
  return (samples_per_rank() + options_.batch_size - 1) / options_.batch_size;
}

void ClipLoader::StartEpoch(int epoch, int64_t first_batch) {
  const int64_t n = static_cast<int64_t>(samples_.size());
  std::vector<int64_t> global(n);
  for (int64_t i = 0; i < n; ++i) global[i] = i;
  if (options_.train) {
    // Fisher-Yates on the raw engine: std::shuffle's use of the engine is
    // implementation-defined.
    std::mt19937_64 rng(MixSeed(options_.seed, epoch, -1));
    for (int64_t i = n - 1; i > 0; --i) {
      std::swap(global[i], global[rng() % static_cast<uint64_t>(i + 1)]);
    }
  }
  const int64_t padded =
      (n + options_.world_size - 1) / options_.world_size * options_.world_size;
  for (int64_t i = n; i < padded; ++i) global.push_back(global[i - n]);
  std::vector<int64_t> mine;
  for (int64_t i = options_.rank; i < padded; i += options_.world_size) {
    mine.push_back(global[i]);
  }
  mine.resize(samples_per_rank());

  std::lock_guard<std::mutex> lock(mutex_);
  jobs_.clear();  // work queued for an earlier epoch is no longer wanted
  in_flight_.clear();
  order_ = std::move(mine);
  epoch_ = epoch;
  next_to_submit_ = std::min<size_t>(
      order_.size(), static_cast<size_t>(first_batch) * options_.batch_size);
  next_to_return_ = next_to_submit_;
}

void ClipLoader::Refill() {
  const size_t limit =
      static_cast<size_t>(options_.prefetch_batches) * options_.batch_size;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    while (in_flight_.size() < limit && next_to_submit_ < order_.size()) {
      Job job{order_[next_to_submit_++], epoch_, {}};
      in_flight_.push_back(job.result.get_future());
      jobs_.push_back(std::move(job));
    }
  }
  work_ready_.notify_all();
}

absl::StatusOr<std::optional<ClipBatch>> ClipLoader::Next() {
  Refill();
  if (next_to_return_ >= order_.size()) return std::nullopt;
  const size_t count =
      std::min<size_t>(options_.batch_size, order_.size() - next_to_return_);
  std::vector<torch::Tensor> clips;
  ClipBatch batch;
  std::vector<int64_t> labels;
  for (size_t i = 0; i < count; ++i) {
    std::future<SampleResult> pending;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending = std::move(in_flight_.front());
      in_flight_.pop_front();
    }
    SampleResult result = pending.get();
    const int64_t sample_id = order_[next_to_return_++];
    if (!result.ok()) return result.status();
    clips.push_back(std::move(result->first));
    labels.push_back(result->second);
    batch.sample_ids.push_back(sample_id);
  }
  Refill();
  if (options_.decode) batch.video = torch::stack(clips);
  batch.labels = torch::tensor(labels, torch::kInt64);
  return batch;
}

void ClipLoader::WorkerLoop() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job.result.set_value(LoadSample(job.sample_id, job.epoch));
  }
}

absl::StatusOr<std::pair<torch::Tensor, int64_t>> ClipLoader::LoadSample(
    int64_t sample_id, int epoch) const {
  const ClipSample& sample = samples_.at(sample_id);
  if (!options_.decode) return std::make_pair(torch::Tensor(), sample.label);
  std::mt19937_64 rng(MixSeed(options_.seed, epoch, sample_id));
  const video::SampleMode mode =
      options_.train ? video::SampleMode::kTrain : video::SampleMode::kTest;

  absl::StatusOr<std::unique_ptr<video::VideoDecoder>> decoder =
      video::VideoDecoder::Open(sample.path);
  if (!decoder.ok()) return decoder.status();
  const std::vector<std::vector<int64_t>> indices = video::ClipFrameIndices(
      options_.clip, (*decoder)->info().num_frames, mode, &rng);
  absl::StatusOr<torch::Tensor> clips = video::CutClips(
      **decoder, indices, options_.clip, options_.train ? &rng : nullptr);
  if (!clips.ok()) return clips.status();
  torch::Tensor clip = (*clips)[0];
  int64_t label = sample.label;
  // After normalization: a mirror commutes with the per-channel transform.
  if (options_.train && options_.flip && sample.flipped_label >= 0 &&
      rng() % 2 == 1) {
    clip = video::HorizontalFlip(clip).contiguous();
    label = sample.flipped_label;
  }
  return std::make_pair(clip, label);
}

}  // namespace iv::data
