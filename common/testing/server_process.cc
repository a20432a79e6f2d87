#include "common/testing/server_process.h"

#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/process/command.h"
#include "common/serving/connection.h"
#include "common/testing/process_ended.h"
#include "third_party/grpc_health/health.grpc.pb.h"

namespace iv::test {

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<ServerProcess> StartServerProcess(
    const std::string& command_line, const std::string& log,
    absl::Duration timeout) {
  process::CommandResult started = process::RunCommand(
      absl::StrCat(command_line, " >", log, " 2>&1 & echo $!"));
  if (started.exit_code != 0) {
    return absl::InternalError(absl::StrCat("could not start ", command_line));
  }
  ServerProcess server{std::atoi(started.output.c_str()), 0, log};
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    const std::string text = ReadTextFile(log);
    const size_t at = text.find("serving on port ");
    if (at != std::string::npos) {
      server.port = std::atoi(text.c_str() + at + 16);
      return server;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  kill(server.pid, SIGKILL);
  return absl::DeadlineExceededError(absl::StrCat(
      command_line, " did not report its port; its log:\n", ReadTextFile(log)));
}

absl::Status WaitUntilServing(const ServerProcess& server,
                              absl::Duration timeout) {
  using grpc::health::v1::HealthCheckResponse;
  absl::StatusOr<serving::Connection> connection =
      serving::Connection::Open(absl::StrCat("127.0.0.1:", server.port), {});
  if (!connection.ok()) return connection.status();
  auto health = grpc::health::v1::Health::NewStub(connection->channel());
  const absl::Time deadline = absl::Now() + timeout;
  std::string last;
  while (absl::Now() < deadline) {
    HealthCheckResponse response;
    const grpc::Status status =
        health->Check(connection->NewContext(absl::Seconds(5)).get(),
                      grpc::health::v1::HealthCheckRequest(), &response);
    if (status.ok() && response.status() == HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    last = status.ok()
               ? HealthCheckResponse::ServingStatus_Name(response.status())
               : status.error_message();
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "the server on port ", server.port, " never reported SERVING (last: ",
      last, "); its log:\n", ReadTextFile(server.log)));
}

absl::StatusOr<ServingServer> StartServing(const std::string& command_line,
                                           const std::string& log) {
  absl::StatusOr<ServerProcess> started = StartServerProcess(command_line, log);
  if (!started.ok()) return started.status();
  if (absl::Status serving = WaitUntilServing(*started); !serving.ok()) {
    StopServerProcess(*started, SIGKILL);
    return serving;
  }
  absl::StatusOr<serving::Connection> connection =
      serving::Connection::Open(absl::StrCat("127.0.0.1:", started->port), {});
  if (!connection.ok()) {
    StopServerProcess(*started, SIGKILL);
    return connection.status();
  }
  return ServingServer{*started, *std::move(connection)};
}

void StopServerProcess(const ServerProcess& server, int signal) {
  kill(server.pid, signal);
  WaitUntilEnded(server.pid);
}

}  // namespace iv::test
