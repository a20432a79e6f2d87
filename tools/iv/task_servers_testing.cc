#include "tools/iv/task_servers_testing.h"

#include <signal.h>

#include "absl/strings/str_cat.h"

namespace iv::cli {

absl::StatusOr<TaskServers> StartTaskServers(const std::string& flags,
                                             const std::string& log_dir) {
  const std::string all_flags =
      absl::StrCat(" --address 127.0.0.1:0 --metrics-address '' ", flags);
  absl::StatusOr<test::ServerProcess> tasks = test::StartServerProcess(
      "task_service/task_server" + all_flags, log_dir + "/task_server.log");
  if (!tasks.ok()) return tasks.status();
  absl::StatusOr<test::ServerProcess> captioner = test::StartServerProcess(
      "captioner/captioner_server" + all_flags, log_dir + "/captioner.log");
  if (!captioner.ok()) {
    test::StopServerProcess(*tasks, SIGTERM);
    return captioner.status();
  }
  TaskServers servers{*tasks, *captioner};
  for (const test::ServerProcess* server :
       {&servers.tasks, &servers.captioner}) {
    const absl::Status serving = test::WaitUntilServing(*server);
    if (!serving.ok()) {
      StopTaskServers(servers);
      return serving;
    }
  }
  return servers;
}

void StopTaskServers(const TaskServers& servers) {
  test::StopServerProcess(servers.tasks, SIGTERM);
  test::StopServerProcess(servers.captioner, SIGTERM);
}

}  // namespace iv::cli
