#ifndef TOOLS_IV_ASK_COMMAND_H_
#define TOOLS_IV_ASK_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

// `iv ask VIDEO "QUESTION"`: the answer with its score and the top-k
// alternatives, open vocabulary or among --choices.
void AddAskCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_ASK_COMMAND_H_
