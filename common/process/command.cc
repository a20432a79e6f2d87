#include "common/process/command.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>

namespace iv::process {

CommandResult RunCommand(const std::string& command) {
  // The exit status system(3) gives a shell that could not be run.
  constexpr int kNotRun = 127;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {kNotRun, ""};
  CommandResult result{0, ""};
  std::array<char, 1 << 16> buffer;
  for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) {
    result.output.append(buffer.data(), n);
  }
  const int status = pclose(pipe);
  if (status == -1) {
    result.exit_code = kNotRun;
  } else if (WIFSIGNALED(status)) {
    result.exit_code = -WTERMSIG(status);
  } else {
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

}  // namespace iv::process
