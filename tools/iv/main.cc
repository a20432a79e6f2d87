// iv: the one command-line tool of the InternVideo platform. Each area adds
// its subcommands here; run `iv --help` or `iv COMMAND --help`.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "tools/iv/ask_command.h"
#include "tools/iv/bench_command.h"
#include "tools/iv/caption_command.h"
#include "tools/iv/eval_command.h"
#include "tools/iv/health_command.h"
#include "tools/iv/ingest_command.h"
#include "tools/iv/localize_command.h"
#include "tools/iv/model_command.h"
#include "tools/iv/recognize_command.h"
#include "tools/iv/search_command.h"
#include "tools/iv/synth_command.h"
#include "tools/iv/train_command.h"
#include "tools/iv/version_command.h"
#include "tools/iv/video_command.h"
#include "tools/iv/vocab_command.h"

int main(int argc, char** argv) {
  CLI::App iv(
      "iv - train, serve and query InternVideo video foundation models.\n"
      "Run `iv COMMAND --help` for the options of a command.",
      "iv");
  iv.require_subcommand(1);
  iv.footer("Services take the API key from --api-key or IV_API_KEY.");
  iv::cli::AddAskCommand(iv);
  iv::cli::AddBenchCommand(iv);
  iv::cli::AddCaptionCommand(iv);
  iv::cli::AddEvalCommand(iv);
  iv::cli::AddHealthCommand(iv);
  iv::cli::AddIngestCommand(iv);
  iv::cli::AddLocalizeCommand(iv);
  iv::cli::AddModelCommand(iv);
  iv::cli::AddRecognizeCommand(iv);
  iv::cli::AddSearchCommand(iv);
  iv::cli::AddSynthCommand(iv);
  iv::cli::AddTrainCommand(iv);
  iv::cli::AddVersionCommand(iv);
  iv::cli::AddVideoCommand(iv);
  iv::cli::AddVocabCommand(iv);
  if (argc == 1) {
    std::printf("%s", iv.help().c_str());
    return 1;
  }
  const std::string first = argv[1];
  auto named_first = [&first](CLI::App* command) {
    return command->check_name(first);
  };
  if (first[0] != '-' && iv.get_subcommands(named_first).empty()) {
    std::fprintf(stderr, "iv: unknown command '%s'; run `iv --help`\n",
                 first.c_str());
    return 2;
  }
  CLI11_PARSE(iv, argc, argv);
  return 0;
}
