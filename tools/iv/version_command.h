#ifndef TOOLS_IV_VERSION_COMMAND_H_
#define TOOLS_IV_VERSION_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

// `iv version`: the project's version and the libraries it was built with.
void AddVersionCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_VERSION_COMMAND_H_
