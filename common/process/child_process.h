// Starting a program as a child process and waiting for it: how the trainer
// service runs its workers and `iv train --nproc N` its ranks. Unlike
// RunCommand (command.h) there is no shell, the call does not block, and the
// caller keeps a handle to signal and reap the child.
#ifndef COMMON_PROCESS_CHILD_PROCESS_H_
#define COMMON_PROCESS_CHILD_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace iv::process {

struct SpawnOptions {
  // The program's arguments, argv[0] included. Required.
  std::vector<std::string> argv;
  // The file executed (no PATH search); empty: argv[0]. Differs from argv[0]
  // when a program re-runs itself through /proc/self/exe.
  std::string program;
  // Variables set in the child on top of this process's environment.
  std::map<std::string, std::string> env;
  // Appends the child's stdout and stderr to this file (created if missing)
  // and gives it /dev/null as stdin; empty: it shares this process's three.
  std::string log_path;
  // Makes the child the leader of a new process group, so Signal reaches
  // every process it starts in turn.
  bool own_process_group = false;
  // SIGKILL for the child when this process dies. Linux sends it when the
  // *thread* that called Spawn ends, so spawn from a thread that lives as
  // long as the children should.
  bool die_with_parent = false;
};

// A spawned child. Destroying the handle neither stops nor reaps the child:
// whoever holds it calls Wait (or TryWait until it answers).
class ChildProcess {
 public:
  // No process: running() is false and Signal does nothing.
  ChildProcess() = default;
  // Moving hands over the duty to reap; the moved-from handle has no process.
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Started and not reaped yet.
  bool running() const { return pid_ > 0 && !reaped_; }

  // Sends `signal` to the child, or to its whole process group when it has
  // one. A group is signalled even after its leader was reaped, so the
  // processes it left behind can still be stopped.
  void Signal(int signal) const;

  // The wait status (see DescribeWaitStatus) once the child has ended,
  // reaping it; nullopt while it runs, and when it cannot be waited for
  // (another waiter reaped it).
  std::optional<int> TryWait();
  // Blocks until the child ends. nullopt when it cannot be waited for.
  std::optional<int> Wait();

 private:
  friend absl::StatusOr<ChildProcess> Spawn(const SpawnOptions& options);
  ChildProcess(pid_t pid, bool own_process_group)
      : pid_(pid), own_process_group_(own_process_group) {}
  // waitpid with `options` (WNOHANG or 0), for TryWait and Wait.
  std::optional<int> Reap(int options);

  pid_t pid_ = 0;
  bool own_process_group_ = false;
  bool reaped_ = false;
};

// Starts options.argv. Fails, with nothing left running, when the log cannot
// be opened, no process can be created, or the program cannot be executed
// (the message names the program and the reason: "cannot execute
// /bin/nope: No such file or directory"). INVALID_ARGUMENT for an empty argv.
absl::StatusOr<ChildProcess> Spawn(const SpawnOptions& options);

// How a process ended, from its wait status: "exited with status 3", "was
// killed by signal 9 (Killed)", else "ended".
std::string DescribeWaitStatus(int wait_status);

}  // namespace iv::process

#endif  // COMMON_PROCESS_CHILD_PROCESS_H_
