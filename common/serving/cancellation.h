// A client's cancellation as service libraries poll it, so a client that
// gives up (cancels, or lets its deadline pass) stops the work it asked for
// instead of leaving it to run to the end.
#ifndef COMMON_SERVING_CANCELLATION_H_
#define COMMON_SERVING_CANCELLATION_H_

#include <grpcpp/grpcpp.h>

#include <functional>

namespace iv::serving {

// True once the call is to stop. Empty: never.
using Cancelled = std::function<bool()>;

// The cancellation of the call `context` serves, deadline included. The
// context must outlive every poll.
inline Cancelled CancelledBy(grpc::ServerContext* context) {
  return [context] { return context->IsCancelled(); };
}

}  // namespace iv::serving

#endif  // COMMON_SERVING_CANCELLATION_H_
