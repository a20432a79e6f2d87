#include "tools/iv/health_command.h"

#include <cstdio>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/serving/connection.h"
#include "common/serving/flags.h"
#include "third_party/grpc_health/health.grpc.pb.h"

namespace iv::cli {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// Exit statuses, as documented in the command's help.
constexpr int kServing = 0;
constexpr int kUnreachable = 2;
constexpr int kNotServing = 3;

struct HealthArgs {
  std::string address;
  std::string service;
  bool watch = false;
  double timeout_s = 5;
  serving::ConnectionOptions connection;
};

const char* StatusName(HealthCheckResponse::ServingStatus status) {
  return HealthCheckResponse::ServingStatus_Name(status).c_str();
}

int Report(const HealthArgs& args, const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    std::printf("SERVICE_UNKNOWN\n");
    std::fprintf(stderr, "iv health: %s serves no service named '%s'\n",
                 args.address.c_str(), args.service.c_str());
    return kNotServing;
  }
  std::fprintf(stderr, "iv health: cannot get the health of %s: %s%s\n",
               args.address.c_str(), status.error_message().c_str(),
               status.error_code() == grpc::StatusCode::UNAVAILABLE
                   ? " (is it running? does it serve TLS? then add --tls)"
                   : "");
  return kUnreachable;
}

int RunHealth(const HealthArgs& args) {
  absl::StatusOr<serving::Connection> connection =
      serving::Connection::Open(args.address, args.connection);
  if (!connection.ok()) {
    std::fprintf(stderr, "iv health: %s\n",
                 std::string(connection.status().message()).c_str());
    return kUnreachable;
  }
  auto stub = Health::NewStub(connection->channel());
  HealthCheckRequest request;
  request.set_service(args.service);
  HealthCheckResponse response;
  if (!args.watch) {
    auto context = connection->NewContext(absl::Seconds(args.timeout_s));
    grpc::Status status = stub->Check(context.get(), request, &response);
    if (!status.ok()) return Report(args, status);
    std::printf("%s\n", StatusName(response.status()));
    return response.status() == HealthCheckResponse::SERVING ? kServing
                                                             : kNotServing;
  }
  auto context = connection->NewContext(absl::InfiniteDuration());
  auto stream = stub->Watch(context.get(), request);
  HealthCheckResponse::ServingStatus last = HealthCheckResponse::UNKNOWN;
  while (stream->Read(&response)) {
    last = response.status();
    std::printf("%s\n", StatusName(last));
    std::fflush(stdout);
  }
  grpc::Status status = stream->Finish();
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
    return Report(args, status);
  }
  return last == HealthCheckResponse::SERVING ? kServing : kNotServing;
}

}  // namespace

void AddHealthCommand(CLI::App& iv) {
  auto args = std::make_shared<HealthArgs>();
  CLI::App* command = iv.add_subcommand(
      "health", "Ask a service whether it is ready (grpc.health.v1)");
  command->add_option("address", args->address, "host:port of the service")
      ->required();
  command->add_option("--service", args->service,
                      "full service name, e.g. internvideo.v1.EncoderService "
                      "(default: the server as a whole)");
  command->add_flag("--watch", args->watch,
                    "keep printing each change of status until the server "
                    "goes away or you press Ctrl-C");
  command->add_option("--timeout", args->timeout_s, "seconds to wait")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serving::AddConnectionFlags(*command, args->connection);
  command->footer(
      "Prints SERVING, NOT_SERVING or SERVICE_UNKNOWN.\n"
      "Exit status: 0 serving, 3 not serving or unknown service, "
      "2 unreachable or another error.");
  command->callback([args] {
    int code = RunHealth(*args);
    if (code != kServing) throw CLI::RuntimeError(code);
  });
}

}  // namespace iv::cli
