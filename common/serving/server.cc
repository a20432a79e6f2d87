#include "common/serving/server.h"

#include <errno.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace iv::serving {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(what, ": cannot read '", path, "'"));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const ServerOptions& options) {
  if (options.tls_cert_path.empty() != options.tls_key_path.empty()) {
    return absl::InvalidArgumentError(
        "tls: give both a certificate and a key, or neither");
  }
  if (options.tls_cert_path.empty()) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert =
      ReadFile(options.tls_cert_path, "tls certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile(options.tls_key_path, "tls key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(ssl);
}

// The service's full name ("internvideo.v1.EncoderService") from its first
// method's path ("/internvideo.v1.EncoderService/EmbedVideo").
std::string ServiceName(grpc::Service* service) {
  for (const auto& method : ServiceMethods(service)) {
    if (method == nullptr) continue;
    absl::string_view path = method->name();
    path.remove_prefix(1);
    return std::string(path.substr(0, path.find('/')));
  }
  return "";
}

// SIGTERM/SIGINT wake RunUntilSignal through a pipe: the only thing a signal
// handler may safely do is write(2).
int g_signal_pipe[2] = {-1, -1};

void OnShutdownSignal(int /*signal*/) {
  char byte = 1;
  ssize_t ignored = write(g_signal_pipe[1], &byte, 1);
  (void)ignored;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options, const std::vector<grpc::Service*>& services) {
  if (options.max_message_bytes <= 0) {
    return absl::InvalidArgumentError("max_message_bytes: must be positive");
  }
  if (options.max_in_flight <= 0) {
    return absl::InvalidArgumentError("max_in_flight: must be positive");
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      Credentials(options);
  if (!credentials.ok()) return credentials.status();

  std::unique_ptr<Server> server(new Server());
  server->options_ = options;
  server->tls_ = !options.tls_cert_path.empty();
  server->registry_ = std::make_shared<prometheus::Registry>();
  server->rpc_metrics_ = std::make_unique<RpcMetrics>(*server->registry_);
  server->guard_ = std::make_unique<CallGuard>(
      CallGuard::Options{options.api_key, options.max_in_flight});
  RpcMetrics* metrics = server->rpc_metrics_.get();
  server->guard_->OnInFlightChange(
      [metrics](int calls) { metrics->SetInFlight(calls); });

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, *credentials, &server->port_);
  // gRPC binds with SO_REUSEPORT by default: a second server on a port in
  // use would start and silently share its calls with the first.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // Each synchronous call holds a thread; leave room above the in-flight
  // limit so the guard, not thread starvation, answers an overload.
  grpc::ResourceQuota quota("iv-server");
  quota.SetMaxThreads(options.max_in_flight + 16);
  builder.SetResourceQuota(quota);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(metrics->InterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  absl::Status plugin_services = absl::OkStatus();
  builder.SetOption(server->guard_->ProtectPluginServices(&plugin_services));
  for (grpc::Service* service : services) {
    absl::Status protected_status = server->guard_->Protect(service);
    if (!protected_status.ok()) return protected_status;
    server->service_names_.push_back(ServiceName(service));
    builder.RegisterService(service);
  }
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve gRPC on '", options.address,
                     "': the address is invalid or the port is in use"));
  }
  if (!plugin_services.ok()) {
    server->Shutdown();
    return plugin_services;
  }
  server->SetServing(false);

  if (!options.metrics_address.empty()) {
    try {
      server->exposer_ =
          std::make_unique<prometheus::Exposer>(options.metrics_address);
    } catch (const std::exception& e) {
      server->Shutdown();
      return absl::UnavailableError(absl::StrCat("cannot serve metrics on '",
                                                 options.metrics_address,
                                                 "': ", e.what()));
    }
    server->exposer_->RegisterCollectable(server->registry_);
    std::vector<int> ports = server->exposer_->GetListeningPorts();
    server->metrics_port_ = ports.empty() ? 0 : ports[0];
  }
  return server;
}

Server::~Server() { Shutdown(); }

void Server::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  for (const std::string& name : service_names_) {
    health->SetServingStatus(name, serving);
  }
  health->SetServingStatus("", serving);
}

void Server::Shutdown() {
  std::lock_guard<std::mutex> lock(shutdown_mutex_);
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  // Health first, so load balancers stop sending before the port closes.
  server_->GetHealthCheckService()->Shutdown();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.drain_timeout));
  server_->Wait();
  exposer_.reset();
}

void Server::RunUntilSignal() {
  if (pipe(g_signal_pipe) != 0) {
    std::perror("iv server: pipe");
    Shutdown();
    return;
  }
  struct sigaction action = {};
  action.sa_handler = OnShutdownSignal;
  sigemptyset(&action.sa_mask);
  struct sigaction old_term, old_int;
  sigaction(SIGTERM, &action, &old_term);
  sigaction(SIGINT, &action, &old_int);
  std::fprintf(stderr,
               "serving on port %d%s; SIGTERM or Ctrl-C drains and stops\n",
               port_, tls_ ? " (TLS)" : "");
  // Wake up now and then to notice a Shutdown() called from another thread.
  while (true) {
    struct pollfd fd = {g_signal_pipe[0], POLLIN, 0};
    int ready = poll(&fd, 1, 200);
    if (ready > 0) break;
    if (ready < 0 && errno != EINTR) break;
    std::lock_guard<std::mutex> lock(shutdown_mutex_);
    if (shut_down_) break;
  }
  std::fprintf(stderr, "shutting down: draining calls in flight (up to %s)\n",
               absl::FormatDuration(options_.drain_timeout).c_str());
  Shutdown();
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGINT, &old_int, nullptr);
  close(g_signal_pipe[0]);
  close(g_signal_pipe[1]);
  g_signal_pipe[0] = g_signal_pipe[1] = -1;
  std::fprintf(stderr, "stopped\n");
}

}  // namespace iv::serving
