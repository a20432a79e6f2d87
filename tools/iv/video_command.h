#ifndef TOOLS_IV_VIDEO_COMMAND_H_
#define TOOLS_IV_VIDEO_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

// `iv video probe FILE` and `iv video sample FILE ...`.
void AddVideoCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_VIDEO_COMMAND_H_
