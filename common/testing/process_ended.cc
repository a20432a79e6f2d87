#include "common/testing/process_ended.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace iv::test {

bool ProcessEnded(pid_t pid) {
  // POSIX reads, not an ifstream: reading the stat of a process that exits
  // meanwhile fails with ESRCH, which libstdc++'s stream iterators throw.
  const std::string path = absl::StrCat("/proc/", pid, "/stat");
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  char text[512];
  const ssize_t size = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (size <= 0) return true;
  text[size] = '\0';
  // The state follows the command name, which is in parentheses and may
  // itself contain ") ".
  const std::string stat(text, size);
  const size_t name_end = stat.rfind(')');
  return name_end == std::string::npos || name_end + 2 >= stat.size() ||
         stat[name_end + 2] == 'Z';
}

bool WaitUntilEnded(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!ProcessEnded(pid)) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

}  // namespace iv::test
