#include "common/serving/idle_watchdog.h"

#include "absl/time/clock.h"

namespace iv::serving {

IdleWatchdog::IdleWatchdog(grpc::ServerContext* context, absl::Duration idle)
    : context_(context), idle_(idle), last_touch_(absl::Now()) {
  thread_ = std::thread([this] { Watch(); });
}

IdleWatchdog::~IdleWatchdog() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  thread_.join();
}

void IdleWatchdog::Touch() {
  absl::MutexLock lock(&mutex_);
  last_touch_ = absl::Now();
}

bool IdleWatchdog::fired() const {
  absl::MutexLock lock(&mutex_);
  return fired_;
}

void IdleWatchdog::Watch() {
  absl::MutexLock lock(&mutex_);
  while (!stopping_) {
    const absl::Time deadline = last_touch_ + idle_;
    if (absl::Now() >= deadline) {
      fired_ = true;
      context_->TryCancel();
      return;
    }
    // Wakes at the deadline, or at once when stopping.
    mutex_.AwaitWithDeadline(absl::Condition(&stopping_), deadline);
  }
}

}  // namespace iv::serving
