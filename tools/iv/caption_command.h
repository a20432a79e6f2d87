#ifndef TOOLS_IV_CAPTION_COMMAND_H_
#define TOOLS_IV_CAPTION_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

// `iv caption VIDEO...`: a caption for each video (greedy, beam search or
// sampling).
void AddCaptionCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_CAPTION_COMMAND_H_
