// The dataset loader for training and evaluation: decodes, samples and
// transforms clips on a pool of worker threads, prefetching ahead of the
// consumer, and hands out batches [B, 3, T, H, W] in a deterministic order.
//
// Determinism: the epoch's order is a shuffle seeded by (seed, epoch), the
// same on every rank; each sample's random choices (frame offsets, crop, flip)
// come from an engine seeded by (seed, epoch, sample), so results do not
// depend on thread scheduling or on the number of workers.
// Distributed: like PyTorch's DistributedSampler, the epoch's order is padded
// to a multiple of world_size by repeating its start, and rank r takes every
// world_size-th sample from position r.
#ifndef COMMON_DATA_CLIP_LOADER_H_
#define COMMON_DATA_CLIP_LOADER_H_

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/video/clip_spec.h"

namespace iv::data {

// One item of a dataset.
struct ClipSample {
  std::string path;
  int64_t label = -1;
  // The label of the mirrored clip, for datasets whose classes depend on
  // direction (move_left <-> move_right); -1 means this sample must never be
  // flipped. Only used when ClipLoaderOptions::flip is on.
  int64_t flipped_label = -1;
};

// A well-mixed 64-bit seed for one (seed, epoch, sample): every random
// choice of the loader, and of trainers that want the same determinism
// (per-step masks, caption picks), derives from one of these.
uint64_t MixSeed(uint64_t seed, int64_t epoch, int64_t sample);

struct ClipLoaderOptions {
  // How each sample's clip is cut (ResolveClipSpec of the model's
  // ClipInputOf and the recipe's sampling): one view per sample, so
  // num_clips 1 and no three crops (mmaction2's validation pipeline;
  // multi-view testing is the services'). Training draws the clip's frames
  // and its crop at random.
  video::ClipSpec clip;
  // Training: shuffle, random offsets and crops, drop the last partial batch.
  bool train = false;
  // Training only: mirror half of the samples whose flipped_label is set.
  bool flip = false;
  int batch_size = 8;
  // Off: batches carry sample ids and labels only (video undefined), for
  // training on features computed ahead of time (localization) in the same
  // deterministic, rank-sharded, resumable order.
  bool decode = true;
  int workers = 2;           // decoding threads
  int prefetch_batches = 2;  // batches decoded ahead of the consumer
  uint64_t seed = 0;
  int rank = 0;
  int world_size = 1;
};

struct ClipBatch {
  torch::Tensor video;              // float [B, 3, T, H, W]
  torch::Tensor labels;             // int64 [B]
  std::vector<int64_t> sample_ids;  // positions in the dataset
};

class ClipLoader {
 public:
  // INVALID_ARGUMENT (naming the option) for inconsistent options or an
  // empty dataset.
  static absl::StatusOr<std::unique_ptr<ClipLoader>> Create(
      std::vector<ClipSample> samples, const ClipLoaderOptions& options);
  ~ClipLoader();

  // Starts epoch `epoch` (from 0): fixes its order and begins decoding at
  // batch `first_batch` of it (a resumed run skips what it has trained on
  // without decoding it).
  void StartEpoch(int epoch, int64_t first_batch = 0);
  // The next batch of this rank, nullopt after the epoch's last one, or the
  // error of a sample that could not be loaded (its file named).
  absl::StatusOr<std::optional<ClipBatch>> Next();

  int64_t batches_per_epoch() const;
  int64_t samples_per_rank() const;
  const std::vector<ClipSample>& samples() const { return samples_; }

  // The transformed clip [3, T, H, W] and label of one sample, as a batch
  // would hold it. Exposed for evaluation code and tests.
  absl::StatusOr<std::pair<torch::Tensor, int64_t>> LoadSample(
      int64_t sample_id, int epoch) const;

 private:
  using SampleResult = absl::StatusOr<std::pair<torch::Tensor, int64_t>>;
  struct Job {
    int64_t sample_id;
    int epoch;
    std::promise<SampleResult> result;
  };

  ClipLoader(std::vector<ClipSample> samples, const ClipLoaderOptions& options);
  void WorkerLoop();
  void Refill();  // keeps up to prefetch_batches batches in flight

  const std::vector<ClipSample> samples_;
  const ClipLoaderOptions options_;

  // This rank's sample ids for the current epoch, and how far we are.
  std::vector<int64_t> order_;
  size_t next_to_submit_ = 0;
  size_t next_to_return_ = 0;
  int epoch_ = 0;
  std::deque<std::future<SampleResult>> in_flight_;

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace iv::data

#endif  // COMMON_DATA_CLIP_LOADER_H_
