#ifndef TOOLS_IV_BENCH_COMMAND_H_
#define TOOLS_IV_BENCH_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

// `iv bench decode`, `encoder`, `train` and `search` (more areas add their
// benchmarks here).
void AddBenchCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_BENCH_COMMAND_H_
