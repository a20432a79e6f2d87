// Following the log files a child process writes: each complete line it
// appends, once, in bounded memory, and the line it ended with. How the
// trainer service reads its workers' metrics.jsonl and worker.log.
#ifndef COMMON_PROCESS_LOG_FOLLOWER_H_
#define COMMON_PROCESS_LOG_FOLLOWER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"

namespace iv::process {

// How far a log has been read; kept by the caller between reads.
struct LogPosition {
  int64_t offset = 0;          // bytes consumed
  bool skipping_line = false;  // inside a line longer than the limit
};

// Calls `on_line` (without its '\n') for each line completed in the file
// at `path` since `position`, reading at most `max_read_bytes` per call, and
// advances `position`. The unterminated rest is left for the next call (the
// writer may be halfway through it), unless it is already longer than
// `max_line_bytes`: lines that long are skipped whole. A file shorter than
// `position` was rewritten (a resumed run drops the steps after its
// checkpoint) and is read again from its start. A missing file is no line.
void ReadNewLines(const std::string& path, LogPosition& position,
                  size_t max_line_bytes, int64_t max_read_bytes,
                  const std::function<void(absl::string_view)>& on_line);

// The last non-blank line among the file's final `tail_bytes`, stripped of
// surrounding white space: a failed child's error. "" when there is none.
std::string LastLogLine(const std::string& path, int64_t tail_bytes = 4096);

}  // namespace iv::process

#endif  // COMMON_PROCESS_LOG_FOLLOWER_H_
