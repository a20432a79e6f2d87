#ifndef TOOLS_IV_INGEST_COMMAND_H_
#define TOOLS_IV_INGEST_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

// `iv ingest DIR...`: the batch indexer (see tools/iv/ingest.h).
void AddIngestCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_INGEST_COMMAND_H_
