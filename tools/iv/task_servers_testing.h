// task_server and captioner_server run as processes on loopback, for the
// tests that drive the task services as users do.
#ifndef TOOLS_IV_TASK_SERVERS_TESTING_H_
#define TOOLS_IV_TASK_SERVERS_TESTING_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/testing/server_process.h"

namespace iv::cli {

struct TaskServers {
  test::ServerProcess tasks, captioner;
};

// Starts both on ports of their choosing, without metrics, with `flags`
// (the model, --allowed-roots, ...) added, logging to
// <log_dir>/task_server.log and <log_dir>/captioner.log, and waits until
// both have loaded their models (health SERVING).
absl::StatusOr<TaskServers> StartTaskServers(const std::string& flags,
                                             const std::string& log_dir);

void StopTaskServers(const TaskServers& servers);

}  // namespace iv::cli

#endif  // TOOLS_IV_TASK_SERVERS_TESTING_H_
