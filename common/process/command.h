// Running a shell command line and reading what it prints: how tests reach
// independent reference tools (the ffmpeg CLI, Python) and benchmarks time
// them.
#ifndef COMMON_PROCESS_COMMAND_H_
#define COMMON_PROCESS_COMMAND_H_

#include <string>

namespace iv::process {

struct CommandResult {
  // How the command ended:
  //   0..255  its exit status (127: sh found no such command, or no shell
  //           could be started at all: no processes or memory left);
  //   -N      killed by signal N, as Python's subprocess reports it, so it
  //           cannot be mistaken for an exit status. sh runs the last command
  //           of a line in its own place, so this is that command's signal;
  //           a signal that kills an earlier one is reported by sh as 128+N.
  int exit_code;
  std::string output;  // its standard output (add 2>&1 for stderr too)
};

// Runs `command` with /bin/sh -c, waits for it and returns all it wrote to
// standard output. Its standard error and input are this process's.
CommandResult RunCommand(const std::string& command);

}  // namespace iv::process

#endif  // COMMON_PROCESS_COMMAND_H_
