#ifndef TOOLS_IV_SYNTH_COMMAND_H_
#define TOOLS_IV_SYNTH_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

// `iv synth --out DIR --seed N ...`: renders a SynthWorld dataset (trimmed
// clips, untrimmed videos, manifests) and, with --preview, a contact sheet.
void AddSynthCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_SYNTH_COMMAND_H_
