#include "common/testing/ffmpeg_cli.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/process/command.h"

namespace iv::test {

std::vector<uint8_t> DecodeWithFfmpeg(const std::string& path) {
  const process::CommandResult run = process::RunCommand(
      absl::StrCat("ffmpeg -v error -nostdin -i '", path,
                   "' -f rawvideo -pix_fmt rgb24 - 2>/dev/null"));
  return std::vector<uint8_t>(run.output.begin(), run.output.end());
}

std::vector<uint8_t> DecodeWithFfmpeg(const std::string& path,
                                      const std::vector<int64_t>& indices) {
  // Runs of consecutive indices keep the expression short.
  std::vector<std::string> terms;
  for (size_t i = 0; i < indices.size();) {
    size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    terms.push_back(
        absl::StrCat("between(n\\,", indices[i], "\\,", indices[j], ")"));
    i = j + 1;
  }
  const process::CommandResult run = process::RunCommand(absl::StrCat(
      "ffmpeg -v error -nostdin -i '", path, "' -vf \"select='",
      absl::StrJoin(terms, "+"),
      "'\" -fps_mode passthrough -f rawvideo -pix_fmt rgb24 - 2>/dev/null"));
  return std::vector<uint8_t>(run.output.begin(), run.output.end());
}

}  // namespace iv::test
