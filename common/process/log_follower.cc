#include "common/process/log_follower.h"

#include <algorithm>
#include <fstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace iv::process {

void ReadNewLines(const std::string& path, LogPosition& position,
                  size_t max_line_bytes, int64_t max_read_bytes,
                  const std::function<void(absl::string_view)>& on_line) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  in.seekg(0, std::ios::end);
  const int64_t size = in.tellg();
  if (size < position.offset) position = LogPosition();
  const int64_t length = std::min(size - position.offset, max_read_bytes);
  if (length <= 0) return;
  in.seekg(position.offset);
  std::string chunk(static_cast<size_t>(length), '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  chunk.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  size_t start = 0;
  for (size_t end; (end = chunk.find('\n', start)) != std::string::npos;
       start = end + 1) {
    if (!position.skipping_line && end - start <= max_line_bytes) {
      on_line(absl::string_view(chunk).substr(start, end - start));
    }
    position.skipping_line = false;
  }
  if (position.skipping_line || chunk.size() - start > max_line_bytes) {
    position.skipping_line = true;
    start = chunk.size();
  }
  position.offset += static_cast<int64_t>(start);
}

std::string LastLogLine(const std::string& path, int64_t tail_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff start = std::max<std::streamoff>(0, size - tail_bytes);
  in.seekg(start);
  std::string tail(static_cast<size_t>(size - start), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  std::vector<std::string> lines =
      absl::StrSplit(tail, absl::ByAnyChar("\r\n"), absl::SkipWhitespace());
  if (lines.empty()) return "";
  return std::string(absl::StripAsciiWhitespace(lines.back()));
}

}  // namespace iv::process
