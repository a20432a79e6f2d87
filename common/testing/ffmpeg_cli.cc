#include "common/testing/ffmpeg_cli.h"

#include "absl/strings/str_cat.h"
#include "common/process/command.h"

namespace iv::test {

std::vector<uint8_t> DecodeWithFfmpeg(const std::string& path) {
  const process::CommandResult run = process::RunCommand(
      absl::StrCat("ffmpeg -v error -nostdin -i '", path,
                   "' -f rawvideo -pix_fmt rgb24 - 2>/dev/null"));
  return std::vector<uint8_t>(run.output.begin(), run.output.end());
}

}  // namespace iv::test
