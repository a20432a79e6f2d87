#ifndef TOOLS_IV_MODEL_COMMAND_H_
#define TOOLS_IV_MODEL_COMMAND_H_

#include <CLI/CLI.hpp>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace iv::cli {

// `iv model ...`: creates the `model` command and adds its subcommands. Each
// subcommand has its own adder, defined in its own file, called from
// AddModelCommand.
void AddModelCommand(CLI::App& iv);

// `iv model tokenize --vocab FILE TEXT...`
void AddModelTokenizeCommand(CLI::App& model);

// `iv model info --checkpoint PATH`
void AddModelInfoCommand(CLI::App& model);

// `iv model import --arch ARCH --checkpoint IN --out DIR`
void AddModelImportCommand(CLI::App& model);

// `iv model forward --arch ARCH --checkpoint PATH --input IN --output OUT`
void AddModelForwardCommand(CLI::App& model);

// Prints "iv model COMMAND: <message>" on one line to stderr (scripts read
// the reason from one line) and returns the exit code 1.
int ModelCommandFailed(absl::string_view command, const absl::Status& status);

}  // namespace iv::cli

#endif  // TOOLS_IV_MODEL_COMMAND_H_
