// OpenAI CLIP's byte-level BPE tokenizer (also InternVideo's): the same ids
// as the official clip.tokenize for the same merges file.
//
//   auto tokenizer = ClipTokenizer::Load("bpe_simple_vocab_16e6.txt.gz");
//   torch::Tensor tokens = (*tokenizer)->Tokenize({"a diagram"});
//   // [[49406, 320, 22697, 49407, 0, ...]]  int64 [1, 77]
//
// Text goes through CleanText (text_cleaning.h), is split into words by
// CLIP's pattern, each word's UTF-8 bytes become symbols (bytes_to_unicode),
// and BPE merges them, lowest rank first. Where this can differ from the
// official tokenizer: see "Differences" in clip_tokenizer.cc.
#ifndef COMMON_TEXT_CLIP_TOKENIZER_H_
#define COMMON_TEXT_CLIP_TOKENIZER_H_

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace iv::text {

// The BPE symbol of a byte, in UTF-8 (bytes_to_unicode): printable Latin-1
// bytes stand for themselves, the others for U+0100.. in byte order, so no
// symbol is white space or a control character.
std::string ByteSymbol(uint8_t byte);

// How CLIP's word pattern `'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|
// [^\s\p{L}\p{N}]+` (case-insensitive) classes a code point. kNone: matched
// by no alternative and dropped, as white space is (also U+0345, which the
// case-insensitive negated class refuses because it folds to a letter).
enum class CharClass { kLetter, kNumber, kOther, kNone };
CharClass ClassOf(char32_t c);

// CleanText(text) split into words by CLIP's pattern, each in UTF-8.
// "<|startoftext|>" and "<|endoftext|>" in the text are words of their own.
std::vector<std::string> SplitWords(absl::string_view text);

class ClipTokenizer {
 public:
  static constexpr int kContextLength = 77;
  // The official reads merges lines [1, 49152 - 256 - 2 + 1) of the file.
  static constexpr int kMaxMerges = 49152 - 256 - 2;

  // A merges file: a header line, then one "a b" merge per line, best
  // first; gzip-compressed (the official .txt.gz) or not. Errors name it:
  // NOT_FOUND when missing, DATA_LOSS when unreadable or malformed.
  static absl::StatusOr<std::unique_ptr<ClipTokenizer>> Load(
      const std::string& path);
  // The same from the file's text; `source` names it in errors.
  static absl::StatusOr<std::unique_ptr<ClipTokenizer>> FromMerges(
      absl::string_view merges, absl::string_view source);

  // The BPE ids of `text`, without start/end of text (SimpleTokenizer.encode).
  std::vector<int> Encode(absl::string_view text) const;
  // start_of_text, Encode(text), end_of_text; longer than context_length
  // (>= 1) it keeps the first context_length ids and ends with end_of_text,
  // as clip.tokenize(truncate=True). Not padded.
  std::vector<int> EncodeForModel(absl::string_view text,
                                  int context_length = kContextLength) const;
  // EncodeForModel of each text, zero-padded: int64 [texts, context_length].
  torch::Tensor Tokenize(const std::vector<std::string>& texts,
                         int context_length = kContextLength) const;
  // Ids back to text as SimpleTokenizer.decode: each word ends with a space,
  // invalid UTF-8 becomes U+FFFD. INVALID_ARGUMENT for an unknown id.
  absl::StatusOr<std::string> Decode(absl::Span<const int> ids) const;

  // 512 byte symbols + one per merge + 2 special tokens.
  int vocab_size() const { return static_cast<int>(vocab_.size()); }
  int start_of_text() const { return start_of_text_; }
  int end_of_text() const { return end_of_text_; }

 private:
  struct Merge {
    int rank;
    int id;  // of the merged symbol
  };

  ClipTokenizer() = default;
  std::vector<int> Bpe(absl::string_view word) const;
  std::vector<int> CachedBpe(const std::string& word) const;

  std::vector<std::string> vocab_;      // id -> symbol, UTF-8
  std::array<int, 256> byte_ids_;       // symbol of a byte inside a word
  std::array<int, 256> last_byte_ids_;  // ... and ending it ("</w>")
  absl::flat_hash_map<uint64_t, Merge> merges_;  // by (left id, right id)
  int start_of_text_ = 0;
  int end_of_text_ = 0;

  // Words seen before, as the official's cache; bounded for long-running
  // services fed arbitrary text.
  mutable absl::Mutex mutex_;
  mutable absl::flat_hash_map<std::string, std::vector<int>> cache_
      ABSL_GUARDED_BY(mutex_);
};

}  // namespace iv::text

#endif  // COMMON_TEXT_CLIP_TOKENIZER_H_
