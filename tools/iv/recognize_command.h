#ifndef TOOLS_IV_RECOGNIZE_COMMAND_H_
#define TOOLS_IV_RECOGNIZE_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

// `iv recognize VIDEO`: the top-k action labels of a video with scores, from
// the trained head or zero-shot from label texts.
void AddRecognizeCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_RECOGNIZE_COMMAND_H_
