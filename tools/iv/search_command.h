#ifndef TOOLS_IV_SEARCH_COMMAND_H_
#define TOOLS_IV_SEARCH_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

// `iv search "TEXT"` (or --video FILE, --vector V): ranked results of an
// index-service collection with scores, paths and time segments.
void AddSearchCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_SEARCH_COMMAND_H_
