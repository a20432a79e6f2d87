// Admission control in front of every RPC a Server hosts: the API key, the
// in-flight limit and deadlines that already passed.
//
// gRPC C++ has no server-side hook that can refuse a call with a status
// (interceptors cannot, and AuthMetadataProcessor is ignored on insecure
// ports), so the guard wraps each method handler of a synchronous service.
// Services that builder plugins register (reflection) are guarded the same
// way through ProtectPluginServices: an open reflection stream holds a
// server thread like any call, so it needs the key and counts toward the
// in-flight limit. Only health, served on gRPC's own threads, is exempt.
// It defers deserialization until the call is admitted: a refused call costs
// no parsing, and its payload is freed untouched. One consequence: a server
// interceptor that reads the request message at POST_RECV_MESSAGE would see
// the raw byte buffer. The project's interceptors (metrics) never do.
#ifndef COMMON_SERVING_CALL_GUARD_H_
#define COMMON_SERVING_CALL_GUARD_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/impl/server_builder_option.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace iv::serving {

class CallGuard {
 public:
  struct Options {
    // Required as "authorization: Bearer <api_key>"; empty disables auth.
    std::string api_key;
    // Calls running at once; more are refused with RESOURCE_EXHAUSTED.
    int max_in_flight = 256;
  };

  explicit CallGuard(Options options);
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;

  // Wraps every method of `service` so each call is admitted here first.
  // Call before the service is registered with a ServerBuilder. The guard
  // must outlive the server. Fails for methods that use the async or
  // callback API, which cannot be wrapped.
  absl::Status Protect(grpc::Service* service);

  // An option for ServerBuilder::SetOption that guards, as Protect does,
  // every service a builder plugin registers (gRPC reflection). A service
  // that cannot be guarded is reported in `*status`, which must outlive
  // BuildAndStart; the server must then not be used.
  std::unique_ptr<grpc::ServerBuilderOption> ProtectPluginServices(
      absl::Status* status);

  // Called with the number of calls in flight whenever it changes.
  void OnInFlightChange(std::function<void(int)> listener);

  // Returns OK when the call may run; then Release() must follow it.
  grpc::Status Admit(const grpc::ServerContextBase& context);
  void Release();

  int in_flight() const { return in_flight_.load(); }

 private:
  bool KeyMatches(const grpc::ServerContextBase& context) const;

  const Options options_;
  std::atomic<int> in_flight_{0};
  std::function<void(int)> in_flight_listener_;
};

// The methods of a generated service, as gRPC will register them.
std::vector<std::unique_ptr<grpc::internal::RpcServiceMethod>>& ServiceMethods(
    grpc::Service* service);

}  // namespace iv::serving

#endif  // COMMON_SERVING_CALL_GUARD_H_
