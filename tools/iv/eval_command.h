// `iv eval --checkpoint DIR --manifest FILE --task TASK`: the
// SynthWorld-Bench metrics of a trained model on any manifest in the spec's
// format, printed as one JSON object on the last line.
#ifndef TOOLS_IV_EVAL_COMMAND_H_
#define TOOLS_IV_EVAL_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

void AddEvalCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_EVAL_COMMAND_H_
