// Cancels a streaming call whose peer goes quiet. A synchronous gRPC handler
// blocked in Read() holds one of the server's threads until the client sends
// or goes away; a client that opens a stream and sends nothing more would
// hold it forever, and enough of them would take every thread.
#ifndef COMMON_SERVING_IDLE_WATCHDOG_H_
#define COMMON_SERVING_IDLE_WATCHDOG_H_

#include <grpcpp/grpcpp.h>

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace iv::serving {

class IdleWatchdog {
 public:
  // Watches `context` (not owned; it must outlive the watchdog) and cancels
  // the call when Touch() is not called for `idle`.
  IdleWatchdog(grpc::ServerContext* context, absl::Duration idle);
  ~IdleWatchdog();  // stops watching
  IdleWatchdog(const IdleWatchdog&) = delete;
  IdleWatchdog& operator=(const IdleWatchdog&) = delete;

  // The peer is alive (a message arrived): the idle time starts again.
  void Touch();
  // Whether the watchdog cancelled the call.
  bool fired() const;

 private:
  void Watch();

  grpc::ServerContext* const context_;
  const absl::Duration idle_;
  mutable absl::Mutex mutex_;
  absl::Time last_touch_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool fired_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace iv::serving

#endif  // COMMON_SERVING_IDLE_WATCHDOG_H_
