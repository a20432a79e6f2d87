// Dynamic batching: rows (clips or tokenized texts) from concurrent requests
// are gathered into one forward pass on a single compute thread, as Triton's
// dynamic batcher does.
//
// A batch starts with the oldest waiting request and takes every later one
// it can run with: the same model snapshot, tower and row shape. It runs as
// soon as it holds max_batch rows or its oldest request has waited
// max_queue_delay, whichever comes first. A request with more rows than
// max_batch runs alone, max_batch rows per forward. At most max_queue
// requests wait; more are refused with RESOURCE_EXHAUSTED at once, so a
// saturated server sheds load instead of growing latency without bound.
#ifndef ENCODER_SERVICE_BATCHER_H_
#define ENCODER_SERVICE_BATCHER_H_

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/serving/model_registry.h"

namespace iv::encoder {

struct BatcherOptions {
  int max_batch = 16;  // rows per forward
  absl::Duration max_queue_delay = absl::Milliseconds(5);
  int max_queue = 256;  // requests waiting
};

enum class Tower { kVideo, kText };

struct BatcherStats {
  int64_t batches = 0;        // forward passes
  int64_t rows = 0;           // rows embedded
  int64_t requests = 0;       // requests served
  int64_t largest_batch = 0;  // most requests in one forward
  int64_t rejected = 0;       // refused: queue full
};

class Batcher {
 public:
  explicit Batcher(const BatcherOptions& options);
  ~Batcher();  // fails what still waits (UNAVAILABLE) and joins
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues `rows` ([N, 3, T, H, W] CLIP-normalized clips for kVideo, [N, L]
  // int64 tokens for kText) for `model`; the future holds their embeddings
  // [N, embed_dim] on the CPU, not normalized. RESOURCE_EXHAUSTED (in the
  // future) when the queue is full.
  std::future<absl::StatusOr<torch::Tensor>> Submit(
      std::shared_ptr<const serving::ModelSnapshot> model, Tower tower,
      torch::Tensor rows);

  BatcherStats stats() const;

 private:
  struct Request {
    std::shared_ptr<const serving::ModelSnapshot> model;
    Tower tower;
    torch::Tensor rows;
    absl::Time enqueued;
    std::promise<absl::StatusOr<torch::Tensor>> result;
  };

  static bool Compatible(const Request& a, const Request& b);
  // Rows of the queued requests compatible with the oldest one.
  int64_t ReadyRows() const;
  void Loop();
  void Run(std::deque<Request>& batch);

  const BatcherOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Request> queue_;
  bool stopping_ = false;
  BatcherStats stats_;
  std::thread thread_;
};

}  // namespace iv::encoder

#endif  // ENCODER_SERVICE_BATCHER_H_
