#ifndef TOOLS_IV_MODEL_COMMAND_H_
#define TOOLS_IV_MODEL_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

// `iv model ...`: creates the `model` command and adds its subcommands. Each
// subcommand has its own adder, defined in its own file, called from
// AddModelCommand.
void AddModelCommand(CLI::App& iv);

// `iv model tokenize --vocab FILE TEXT...`
void AddModelTokenizeCommand(CLI::App& model);

}  // namespace iv::cli

#endif  // TOOLS_IV_MODEL_COMMAND_H_
