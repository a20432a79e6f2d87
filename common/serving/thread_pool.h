// A fixed set of threads running submitted tasks in order. Services decode
// videos on one, so decoding never competes with their compute thread for
// a place in line.
#ifndef COMMON_SERVING_THREAD_POOL_H_
#define COMMON_SERVING_THREAD_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"

namespace iv::serving {

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { Loop(); });
    }
  }
  ~ThreadPool() {  // finishes the queued tasks first
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs `task`, which returns an absl::Status or absl::StatusOr, on a pool
  // thread. An exception it throws becomes its status (RESOURCE_EXHAUSTED
  // for std::bad_alloc, INTERNAL otherwise), so the future's get() never
  // throws: a caller never unwinds while other tasks still read its request.
  template <typename F>
  std::future<std::invoke_result_t<F>> Submit(F task) {
    using Result = std::invoke_result_t<F>;
    auto packaged = std::make_shared<std::packaged_task<Result()>>(
        [task = std::move(task)]() mutable -> Result {
          try {
            return task();
          } catch (const std::bad_alloc&) {
            return absl::ResourceExhaustedError("out of memory");
          } catch (const std::exception& error) {
            return absl::InternalError(error.what());
          } catch (...) {
            return absl::InternalError("unknown exception");
          }
        });
    std::future<Result> result = packaged->get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back([packaged] { (*packaged)(); });
    }
    ready_.notify_one();
    return result;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace iv::serving

#endif  // COMMON_SERVING_THREAD_POOL_H_
