#ifndef TOOLS_IV_LOCALIZE_COMMAND_H_
#define TOOLS_IV_LOCALIZE_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

// `iv localize VIDEO`: the action segments of an untrimmed video (start,
// end, label, score).
void AddLocalizeCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_LOCALIZE_COMMAND_H_
