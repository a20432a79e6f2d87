#include "encoder_service/batcher.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace iv::encoder {

Batcher::Batcher(const BatcherOptions& options)
    : options_(options), thread_([this] { Loop(); }) {}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
  for (Request& request : queue_) {
    request.result.set_value(
        absl::UnavailableError("the encoder is shutting down"));
  }
}

std::future<absl::StatusOr<torch::Tensor>> Batcher::Submit(
    std::shared_ptr<const serving::ModelSnapshot> model, Tower tower,
    torch::Tensor rows) {
  Request request{std::move(model), tower, std::move(rows), absl::Now(), {}};
  std::future<absl::StatusOr<torch::Tensor>> result =
      request.result.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (static_cast<int>(queue_.size()) >= options_.max_queue) {
      ++stats_.rejected;
      request.result.set_value(absl::ResourceExhaustedError(
          absl::StrCat("the encoder's queue is full (", options_.max_queue,
                       " requests waiting); retry with backoff")));
      return result;
    }
    queue_.push_back(std::move(request));
  }
  changed_.notify_all();
  return result;
}

BatcherStats Batcher::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

bool Batcher::Compatible(const Request& a, const Request& b) {
  return a.model == b.model && a.tower == b.tower &&
         a.rows.sizes().slice(1) == b.rows.sizes().slice(1);
}

int64_t Batcher::ReadyRows() const {
  int64_t rows = 0;
  for (const Request& request : queue_) {
    if (Compatible(request, queue_.front())) rows += request.rows.size(0);
  }
  return rows;
}

void Batcher::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const absl::Time deadline =
        queue_.front().enqueued + options_.max_queue_delay;
    changed_.wait_for(
        lock,
        absl::ToChronoNanoseconds(
            std::max(absl::ZeroDuration(), deadline - absl::Now())),
        [this] { return stopping_ || ReadyRows() >= options_.max_batch; });
    if (stopping_) return;
    // The oldest request and every later compatible one that fits.
    std::deque<Request> batch;
    int64_t rows = 0;
    for (auto it = queue_.begin(); it != queue_.end();) {
      const int64_t n = it->rows.size(0);
      if (it == queue_.begin() ||
          (Compatible(*it, queue_.front()) && rows + n <= options_.max_batch)) {
        rows += n;
        batch.push_back(std::move(*it));
        it = queue_.erase(it);
        if (rows >= options_.max_batch) break;
      } else {
        ++it;
      }
    }
    lock.unlock();
    Run(batch);
    lock.lock();
    stats_.batches += (rows + options_.max_batch - 1) / options_.max_batch;
    stats_.rows += rows;
    stats_.requests += batch.size();
    stats_.largest_batch =
        std::max<int64_t>(stats_.largest_batch, batch.size());
  }
}

void Batcher::Run(std::deque<Request>& batch) {
  const serving::ModelSnapshot& model = *batch.front().model;
  std::vector<torch::Tensor> inputs;
  for (const Request& request : batch) inputs.push_back(request.rows);
  std::vector<torch::Tensor> results;
  absl::Status status;
  try {
    c10::InferenceMode inference;
    const torch::Tensor all = torch::cat(inputs);
    std::vector<torch::Tensor> outputs;
    for (int64_t start = 0; start < all.size(0); start += options_.max_batch) {
      const torch::Tensor slice =
          all.slice(0, start, start + options_.max_batch).to(model.device);
      outputs.push_back(batch.front().tower == Tower::kVideo
                            ? model.EmbedVideos(slice)
                            : model.multimodal()->EncodeText(slice));
    }
    const torch::Tensor output =
        torch::cat(outputs).to(torch::kCPU, torch::kFloat32);
    int64_t start = 0;
    for (const Request& request : batch) {
      const int64_t n = request.rows.size(0);
      results.push_back(output.slice(0, start, start + n).clone());
      start += n;
    }
  } catch (const c10::Error& error) {
    status = absl::InternalError(
        absl::StrCat("forward failed: ", error.what_without_backtrace()));
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (status.ok()) {
      batch[i].result.set_value(std::move(results[i]));
    } else {
      batch[i].result.set_value(status);
    }
  }
}

}  // namespace iv::encoder
