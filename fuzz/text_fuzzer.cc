// Text cleaning and the CLIP tokenizer on arbitrary bytes (EmbedText's
// texts, zero-shot labels, questions), and the merges-file parser on the
// same bytes (a trainer recipe's vocabulary).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/text/bpe_trainer.h"
#include "common/text/clip_tokenizer.h"
#include "common/text/text_cleaning.h"

namespace {

using iv::text::ClipTokenizer;

// A small vocabulary learned at start-up, so that the target needs no file.
const ClipTokenizer& Tokenizer() {
  static const ClipTokenizer* const tokenizer = [] {
    const std::vector<std::string> corpus = {
        "a small red cube rotates slowly", "The blue sphere bounces.",
        "two people are dancing at night", "what color is the cone?",
        "Café déjà vu: naïve façade 🙂 日本語 1234"};
    absl::StatusOr<std::string> merges = iv::text::TrainBpe(corpus, 200);
    if (!merges.ok()) std::abort();
    absl::StatusOr<std::unique_ptr<ClipTokenizer>> made =
        ClipTokenizer::FromMerges(*merges, "fuzz vocabulary");
    if (!made.ok()) std::abort();
    return made->release();
  }();
  return *tokenizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const std::u32string cleaned = iv::text::CleanText(text);
  if (!iv::text::IsWellFormedUtf8(iv::text::EncodeUtf8(cleaned))) {
    std::abort();
  }
  (void)iv::text::SplitWords(text);

  const ClipTokenizer& tokenizer = Tokenizer();
  const std::vector<int> ids = tokenizer.Encode(text);
  for (int id : ids) {
    if (id < 0 || id >= tokenizer.vocab_size()) std::abort();
  }
  if (!tokenizer.Decode(ids).ok()) std::abort();
  const std::vector<int> model_ids = tokenizer.EncodeForModel(text, 16);
  if (model_ids.size() > 16 || model_ids.front() != tokenizer.start_of_text() ||
      model_ids.back() != tokenizer.end_of_text()) {
    std::abort();
  }

  absl::StatusOr<std::unique_ptr<ClipTokenizer>> parsed =
      ClipTokenizer::FromMerges(text, "fuzz input");
  if (parsed.ok()) (void)(*parsed)->Encode("a small red cube");
  return 0;
}
