#include "tools/iv/vocab_command.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/data/manifest.h"
#include "common/files/atomic_file.h"
#include "common/text/bpe_trainer.h"
#include "common/text/clip_tokenizer.h"

namespace iv::cli {
namespace {

constexpr char kVocabFile[] = "bpe_vocab.txt";
// The byte symbols (each alone and word-final) and start/end of text.
constexpr int kBaseVocab = 256 * 2 + 2;

struct VocabArgs {
  std::vector<std::string> manifests;
  int size = 1024;
  std::string out;
};

int RunVocab(const VocabArgs& args) {
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "iv vocab: %s\n", status.ToString().c_str());
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  };
  const int merges = args.size - kBaseVocab;
  if (merges < 0 || merges > text::ClipTokenizer::kMaxMerges) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("--size: ", args.size, " must be in [", kBaseVocab, ", ",
                     kBaseVocab + text::ClipTokenizer::kMaxMerges,
                     "] (512 byte symbols + 2 special tokens + merges)")));
  }
  std::vector<std::string> corpus;
  for (const std::string& path : args.manifests) {
    absl::StatusOr<std::vector<data::TrimmedClip>> clips =
        data::ReadTrimmedManifest(path);
    if (!clips.ok()) return fail(clips.status());
    for (const data::TrimmedClip& clip : *clips) {
      corpus.insert(corpus.end(), clip.captions.begin(), clip.captions.end());
      for (const data::QuestionAnswer& qa : clip.questions) {
        corpus.push_back(qa.q);
        corpus.push_back(qa.a);
      }
    }
  }
  if (corpus.empty()) {
    return fail(absl::InvalidArgumentError(
        "--manifest: the manifests hold no captions or questions"));
  }
  absl::StatusOr<std::string> vocab = text::TrainBpe(corpus, merges);
  if (!vocab.ok()) return fail(vocab.status());
  // Training stops early once every word is one symbol: report what it made.
  absl::StatusOr<std::unique_ptr<text::ClipTokenizer>> tokenizer =
      text::ClipTokenizer::FromMerges(*vocab, kVocabFile);
  if (!tokenizer.ok()) return fail(tokenizer.status());
  std::error_code error;
  std::filesystem::create_directories(args.out, error);
  if (error) {
    return fail(absl::PermissionDeniedError(absl::StrCat(
        "--out: cannot create ", args.out, ": ", error.message())));
  }
  const std::string path = absl::StrCat(args.out, "/", kVocabFile);
  if (absl::Status s = files::WriteFileAtomically(path, *vocab); !s.ok()) {
    return fail(s);
  }
  std::printf("%s: %d tokens (%d merges) from %zu texts\n", path.c_str(),
              (*tokenizer)->vocab_size(),
              (*tokenizer)->vocab_size() - kBaseVocab, corpus.size());
  return 0;
}

}  // namespace

void AddVocabCommand(CLI::App& iv) {
  auto args = std::make_shared<VocabArgs>();
  CLI::App* vocab = iv.add_subcommand(
      "vocab",
      "Learn a BPE tokenizer vocabulary from the captions and questions of "
      "manifests; writes OUT/bpe_vocab.txt (CLIP merges format) for "
      "multimodal_encoder.tokenizer.vocab_path. Stops early, with fewer "
      "tokens than --size, once every word is a single token.");
  vocab
      ->add_option("--manifest", args->manifests,
                   "JSON Lines manifest of trimmed clips (repeatable)")
      ->required()
      ->check(CLI::ExistingFile);
  vocab
      ->add_option("--size", args->size,
                   "Vocabulary size: 514 (bytes and special tokens) + merges")
      ->capture_default_str();
  vocab->add_option("--out", args->out, "Output folder")->required();
  vocab->callback([args] { std::exit(RunVocab(*args)); });
}

}  // namespace iv::cli
