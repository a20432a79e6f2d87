// Service binaries run as child processes, for tests that must kill a
// server the hard way (kill -9) or drive the stack as users do.
#ifndef COMMON_TESTING_SERVER_PROCESS_H_
#define COMMON_TESTING_SERVER_PROCESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/serving/connection.h"

namespace iv::test {

struct ServerProcess {
  int pid = 0;
  int port = 0;  // the gRPC port the server reported
  std::string log;
};

// Runs `command_line` (a service binary and its flags, typically with
// `--address 127.0.0.1:0`) in the background with stdout and stderr going
// to `log`, and waits until the server base prints "serving on port N".
// DEADLINE_EXCEEDED with the log's text if it does not within `timeout`.
absl::StatusOr<ServerProcess> StartServerProcess(
    const std::string& command_line, const std::string& log,
    absl::Duration timeout = absl::Seconds(60));

// Waits until the server's grpc.health.v1 check answers SERVING (its port
// opens before its model has loaded). DEADLINE_EXCEEDED with the last
// answer and the server's log if it does not within `timeout`.
absl::Status WaitUntilServing(const ServerProcess& server,
                              absl::Duration timeout = absl::Seconds(120));

// A server that answers SERVING, and a connection to it.
struct ServingServer {
  ServerProcess process;
  serving::Connection connection;
};

// StartServerProcess, WaitUntilServing, then a connection to its port on
// loopback: the start of a test that drives a service binary.
absl::StatusOr<ServingServer> StartServing(const std::string& command_line,
                                           const std::string& log);

// Sends `signal` and waits until the process has exited (or is a zombie).
void StopServerProcess(const ServerProcess& server, int signal);

std::string ReadTextFile(const std::string& path);

}  // namespace iv::test

#endif  // COMMON_TESTING_SERVER_PROCESS_H_
