#include "tools/iv/model_command.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "common/text/clip_tokenizer.h"

namespace iv::cli {
namespace {

struct TokenizeArgs {
  std::string vocab;
  int context_length = text::ClipTokenizer::kContextLength;
  std::vector<std::string> texts;
};

int Tokenize(const TokenizeArgs& args) {
  auto tokenizer = text::ClipTokenizer::Load(args.vocab);
  if (!tokenizer.ok()) {
    return ModelCommandFailed("tokenize", tokenizer.status());
  }
  for (const std::string& text : args.texts) {
    const nlohmann::json ids =
        (*tokenizer)->EncodeForModel(text, args.context_length);
    std::printf("%s\n", ids.dump().c_str());
  }
  return 0;
}

}  // namespace

void AddModelCommand(CLI::App& iv) {
  CLI::App* model = iv.add_subcommand(
      "model", "Inspect, import and run models, and tokenize their text");
  model->require_subcommand(1);
  AddModelTokenizeCommand(*model);
  AddModelInfoCommand(*model);
  AddModelImportCommand(*model);
  AddModelForwardCommand(*model);
}

int ModelCommandFailed(absl::string_view command, const absl::Status& status) {
  const std::string message =
      absl::StrReplaceAll(status.message(), {{"\n", "; "}});
  std::fprintf(stderr, "iv model %s: %s\n", std::string(command).c_str(),
               message.c_str());
  return 1;
}

void AddModelTokenizeCommand(CLI::App& model) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* tokenize = model.add_subcommand(
      "tokenize", "Print the CLIP token ids of each text as a JSON array");
  tokenize
      ->add_option("--vocab", args->vocab,
                   "CLIP BPE merges file (bpe_simple_vocab_16e6.txt.gz, or "
                   "a merges file trained for the model), gzip or plain")
      ->required();
  tokenize
      ->add_option("--context-length", args->context_length,
                   "longer texts are cut to this many ids, end of text last")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  tokenize->add_option("text", args->texts, "texts to tokenize")->required();
  tokenize->footer(
      "One line per TEXT: a JSON array of the ids the model sees, start of "
      "text (49406) first and end of text (49407) last, without the zero "
      "padding (the rows of clip.tokenize(truncate=True) without their "
      "zeros). Put `--` before texts that start with '-'. Exits 1 with a "
      "one-line reason if the vocabulary cannot be read.");
  tokenize->callback([args] {
    if (int code = Tokenize(*args)) throw CLI::RuntimeError(code);
  });
}

}  // namespace iv::cli
