// Decoding with the ffmpeg command-line tool: a decoder independent of the
// code under test, to check what it wrote.
#ifndef COMMON_TESTING_FFMPEG_CLI_H_
#define COMMON_TESTING_FFMPEG_CLI_H_

#include <cstdint>
#include <string>
#include <vector>

namespace iv::test {

// Every frame of the video or image at `path` as packed rgb24, one frame
// after the other: what ffmpeg decoded before any error (nothing for a file
// it cannot open).
std::vector<uint8_t> DecodeWithFfmpeg(const std::string& path);

// The frames at `indices` (ascending; numbered as the CLI's select filter
// numbers frames, in the order it shows them), the same way.
std::vector<uint8_t> DecodeWithFfmpeg(const std::string& path,
                                      const std::vector<int64_t>& indices);

}  // namespace iv::test

#endif  // COMMON_TESTING_FFMPEG_CLI_H_
