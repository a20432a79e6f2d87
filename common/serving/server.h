// The one gRPC server base every service binary uses.
//
// A service binary builds its service object, hands it to Server::Start, marks
// itself ready with SetServing(true) once it can answer (a model is loaded,
// an index is open), and calls RunUntilSignal(). The base provides:
//   - grpc.health.v1 health checking that reports real readiness: every
//     service starts NOT_SERVING, and turns NOT_SERVING again at shutdown;
//   - server reflection (grpcurl, grpc_cli);
//   - API-key auth (CallGuard) on every call but health: reflection needs
//     the key too and counts toward the in-flight limit, as Triton guards
//     everything except health;
//   - optional TLS;
//   - limits: message size, calls in flight; deadlines honoured;
//   - Prometheus metrics over HTTP (RpcMetrics);
//   - graceful shutdown on SIGTERM/SIGINT that drains calls in flight.
#ifndef COMMON_SERVING_SERVER_H_
#define COMMON_SERVING_SERVER_H_

#include <grpcpp/grpcpp.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/serving/call_guard.h"
#include "common/serving/metrics.h"

namespace iv::serving {

struct ServerOptions {
  // host:port to serve gRPC on; port 0 picks a free port (see Server::port).
  // Binaries default to loopback (AddServerFlags).
  std::string address = "127.0.0.1:0";
  // Clients must send "authorization: Bearer <api_key>"; empty disables auth.
  std::string api_key;
  // PEM files; both set enables TLS, neither serves plaintext.
  std::string tls_cert_path;
  std::string tls_key_path;
  // Largest request or response message, in bytes.
  int max_message_bytes = 64 << 20;
  // Calls running at once; more get RESOURCE_EXHAUSTED.
  int max_in_flight = 256;
  // host:port for the Prometheus /metrics endpoint, which has no auth;
  // empty disables it. Binaries default to loopback (AddServerFlags).
  std::string metrics_address;
  // How long shutdown waits for calls in flight before cancelling them.
  absl::Duration drain_timeout = absl::Seconds(30);
};

class Server {
 public:
  // Serves `services` (not owned; they must outlive the server). Every
  // service and the overall health ("") start NOT_SERVING.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options,
      const std::vector<grpc::Service*>& services);

  ~Server();  // Shuts down (drains) if still running.
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound gRPC port, and the metrics port (0 when metrics are disabled).
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  bool tls() const { return tls_; }

  // Where services register their own metrics.
  prometheus::Registry& metrics_registry() { return *registry_; }

  // Readiness of every hosted service and of the server as a whole.
  void SetServing(bool serving);

  // Reports NOT_SERVING, stops accepting calls, lets calls in flight finish
  // within drain_timeout, then cancels the rest. Idempotent.
  void Shutdown();

  // Blocks until SIGTERM or SIGINT arrives (or Shutdown is called from
  // another thread), then shuts down. Prints what it does on stderr.
  void RunUntilSignal();

 private:
  Server() = default;

  ServerOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<RpcMetrics> rpc_metrics_;
  std::unique_ptr<CallGuard> guard_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> service_names_;
  int port_ = 0;
  int metrics_port_ = 0;
  bool tls_ = false;
  std::mutex shutdown_mutex_;
  bool shut_down_ = false;
};

}  // namespace iv::serving

#endif  // COMMON_SERVING_SERVER_H_
