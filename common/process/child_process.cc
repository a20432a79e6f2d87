#include "common/process/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

extern char** environ;

namespace iv::process {
namespace {

// The exit status of a child that could not execute its program, as a
// shell reports it; seen only if the parent never reads why.
constexpr int kNotExecuted = 127;

// This process's environment with `overrides` set.
std::vector<std::string> ChildEnvironment(
    const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const absl::string_view variable(*entry);
    const std::string name(variable.substr(0, variable.find('=')));
    if (overrides.count(name) == 0) env.emplace_back(variable);
  }
  for (const auto& [name, value] : overrides) {
    env.push_back(absl::StrCat(name, "=", value));
  }
  return env;
}

// The null-terminated array execve takes; points into `strings`.
std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Everything the child does between fork and exec, prepared beforehand.
struct ChildSetup {
  const char* program;
  char* const* argv;
  char* const* envp;
  int log;         // -1: keep the parent's stdin, stdout and stderr
  int null_input;  // /dev/null when there is a log
  int report;      // write end of the pipe that carries exec's errno
  long max_fd;     // descriptors below this are closed
  pid_t parent;
  bool own_process_group;
  bool die_with_parent;
};

// Runs in the forked child of a possibly multithreaded parent: another
// thread may have held a lock (malloc's, stdio's) at the fork, so only
// async-signal-safe calls are allowed here.
[[noreturn]] void ExecChild(const ChildSetup& setup) {
  if (setup.own_process_group) setpgid(0, 0);
  if (setup.die_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The parent may have died before prctl took effect.
    if (getppid() != setup.parent) _exit(kNotExecuted);
  }
  if (setup.log >= 0) {
    dup2(setup.null_input, 0);
    dup2(setup.log, 1);
    dup2(setup.log, 2);
  }
  // Descriptors the parent opened without O_CLOEXEC would otherwise stay
  // open for the child's whole life (sockets, the parent's database).
  for (long fd = 3; fd < setup.max_fd; ++fd) {
    if (fd != setup.report) close(static_cast<int>(fd));
  }
  execve(setup.program, setup.argv, setup.envp);
  const int error = errno;
  (void)!write(setup.report, &error, sizeof(error));
  _exit(kNotExecuted);
}

// Reads the errno a child sent before exiting; 0 once exec closed the pipe.
int ReadExecError(int report) {
  int error = 0;
  ssize_t n;
  do {
    n = read(report, &error, sizeof(error));
  } while (n < 0 && errno == EINTR);
  return n == sizeof(error) ? error : 0;
}

}  // namespace

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, 0)),
      own_process_group_(other.own_process_group_),
      reaped_(other.reaped_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  pid_ = std::exchange(other.pid_, 0);
  own_process_group_ = other.own_process_group_;
  reaped_ = other.reaped_;
  return *this;
}

void ChildProcess::Signal(int signal) const {
  if (pid_ <= 0) return;
  if (own_process_group_) {
    // The group's id is not reused while any member lives.
    kill(-pid_, signal);
  } else if (!reaped_) {
    kill(pid_, signal);
  }
}

std::optional<int> ChildProcess::Reap(int options) {
  if (!running()) return std::nullopt;
  int status = 0;
  pid_t ended;
  do {
    ended = waitpid(pid_, &status, options);
  } while (ended < 0 && errno == EINTR);
  if (ended != pid_) return std::nullopt;
  reaped_ = true;
  return status;
}

std::optional<int> ChildProcess::TryWait() { return Reap(WNOHANG); }

std::optional<int> ChildProcess::Wait() { return Reap(0); }

absl::StatusOr<ChildProcess> Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) {
    return absl::InvalidArgumentError("argv: empty; name the program to run");
  }
  // Built before fork: allocating in the child could deadlock.
  std::vector<std::string> args = options.argv;
  std::vector<std::string> env = ChildEnvironment(options.env);
  const std::vector<char*> argv = CStrings(args);
  const std::vector<char*> envp = CStrings(env);
  const std::string& program =
      options.program.empty() ? options.argv[0] : options.program;

  int log = -1;
  int null_input = -1;
  if (!options.log_path.empty()) {
    log = open(options.log_path.c_str(),
               O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("cannot open ", options.log_path));
    }
    null_input = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  // Closed by a successful exec, so the parent reads either exec's errno or
  // end of file.
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    const int error = errno;
    if (log >= 0) close(log);
    if (null_input >= 0) close(null_input);
    return absl::ErrnoToStatus(error, "cannot create a pipe");
  }
  const ChildSetup setup{program.c_str(),
                         argv.data(),
                         envp.data(),
                         log,
                         null_input,
                         report[1],
                         std::min<long>(sysconf(_SC_OPEN_MAX), 1 << 16),
                         getpid(),
                         options.own_process_group,
                         options.die_with_parent};
  const pid_t pid = fork();
  if (pid == 0) ExecChild(setup);
  const int fork_error = errno;
  close(report[1]);
  if (log >= 0) close(log);
  if (null_input >= 0) close(null_input);
  if (pid < 0) {
    close(report[0]);
    return absl::ErrnoToStatus(fork_error, "cannot start a process");
  }
  // Also here, so that Signal reaches the group as soon as Spawn returns.
  if (options.own_process_group) setpgid(pid, pid);
  const int exec_error = ReadExecError(report[0]);
  close(report[0]);
  ChildProcess child(pid, options.own_process_group);
  if (exec_error != 0) {
    child.Wait();
    return absl::ErrnoToStatus(exec_error,
                               absl::StrCat("cannot execute ", program));
  }
  return child;
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) {
    return absl::StrCat("exited with status ", WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    return absl::StrCat("was killed by signal ", WTERMSIG(wait_status), " (",
                        strsignal(WTERMSIG(wait_status)), ")");
  }
  return "ended";
}

}  // namespace iv::process
