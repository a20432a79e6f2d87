// Differences from the official tokenizer (clip/simple_tokenizer.py with
// ftfy 6; checked against ftfy 6.3.1), all in the text cleaning or in odd
// merges files; splitting, BPE and ids are the same:
//
// 1. Mojibake. ftfy's `fix_encoding` guesses when text is UTF-8 that was
//    decoded as Latin-1/Windows-1252/MacRoman/... ("sÃ³" for "só",
//    "â€œ" for a quote) and re-decodes it. That heuristic is not
//    implemented: such text is tokenized as written. Text that ftfy judges
//    to be fine (every correctly encoded text we tried, all test cases) is
//    unaffected. The other default ftfy fixes are implemented (FixText).
// 2. Unicode versions. Letters, numbers, case mappings and NFC come from ICU
//    (Unicode 15 in Debian 12's ICU 72); the official's come from the
//    `regex` module and the Python it runs on (Python 3.11: Unicode 14).
//    Only characters assigned or changed in between can differ; the test
//    compares every code point's class with the `regex` module.
// 3. Input that is not valid UTF-8 (Python strings always are): each
//    ill-formed sequence is read as U+FFFD, as bytes.decode(errors="replace").
// 4. ftfy cuts lines longer than a million code points into separate
//    segments; here a line is one segment however long.
// 5. A merges file with fewer than 48,894 merges that ends with a newline:
//    the official reads the empty string after it as one more (empty)
//    vocabulary entry, shifting the special ids by one; here a final newline
//    only ends the last line. Files that the official would read although a
//    merge line is not two symbols, or names a symbol that no line makes,
//    are refused as malformed.
#include "common/text/clip_tokenizer.h"

#include <unicode/uchar.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/text/text_cleaning.h"

namespace iv::text {
namespace {

constexpr absl::string_view kStartOfText = "<|startoftext|>";
constexpr absl::string_view kEndOfText = "<|endoftext|>";
constexpr absl::string_view kEndOfWord = "</w>";
constexpr std::u32string_view kSpecialWords[] = {U"<|startoftext|>",
                                                 U"<|endoftext|>"};
constexpr std::u32string_view kContractions[] = {U"'s", U"'t",  U"'re", U"'ve",
                                                 U"'m", U"'ll", U"'d"};
// The word cache holds at most kMaxCachedWords words of at most
// kMaxCachedWordBytes bytes (~20 MiB with their ids): arbitrary text cannot
// grow it, and a long word costs no more to redo than to keep.
constexpr size_t kMaxCachedWords = 1 << 16;
constexpr size_t kMaxCachedWordBytes = 64;

uint64_t PairKey(int left, int right) {
  return (static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right);
}

// The pattern is case-insensitive: simple case folding, as the `regex`
// module does, so "'ſ" (long s) still matches 's.
bool MatchesAt(std::u32string_view text, size_t pos,
               std::u32string_view pattern) {
  if (text.size() - pos < pattern.size()) return false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (u_foldCase(text[pos + i], U_FOLD_CASE_DEFAULT) != pattern[i]) {
      return false;
    }
  }
  return true;
}

// The length of the word that starts at text[pos]; 0 when none does. The
// alternatives are tried in the pattern's order.
size_t WordLength(std::u32string_view text, size_t pos) {
  for (std::u32string_view special : kSpecialWords) {
    if (MatchesAt(text, pos, special)) return special.size();
  }
  for (std::u32string_view contraction : kContractions) {
    if (MatchesAt(text, pos, contraction)) return contraction.size();
  }
  const CharClass first = ClassOf(text[pos]);
  if (first == CharClass::kNone) return 0;
  if (first == CharClass::kNumber) return 1;
  size_t end = pos + 1;
  while (end < text.size() && ClassOf(text[end]) == first) ++end;
  return end - pos;
}

const std::array<char32_t, 256>& ByteToUnicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> code_points{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable =
          (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      code_points[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    return code_points;
  }();
  return table;
}

// The symbols of the 256 bytes in the official vocabulary's order (ascending
// code point), then each again ending a word.
std::vector<std::string> ByteSymbols() {
  std::vector<char32_t> code_points(ByteToUnicode().begin(),
                                    ByteToUnicode().end());
  std::sort(code_points.begin(), code_points.end());
  std::vector<std::string> symbols;
  for (char32_t c : code_points) {
    symbols.push_back(EncodeUtf8(std::u32string(1, c)));
  }
  for (char32_t c : code_points) {
    symbols.push_back(
        absl::StrCat(EncodeUtf8(std::u32string(1, c)), kEndOfWord));
  }
  return symbols;
}

// byte_decoder: the byte a code point of a symbol stands for. Every symbol
// of a loaded vocabulary is made of byte symbols and ASCII.
char UnicodeToByte(char32_t c) {
  static const auto* bytes = [] {
    auto* table = new absl::flat_hash_map<char32_t, char>;
    for (int b = 0; b < 256; ++b) {
      (*table)[ByteToUnicode()[b]] = static_cast<char>(b);
    }
    return table;
  }();
  return bytes->at(c);
}

struct MergeLine {
  int line;  // 1-based, for errors
  std::string left;
  std::string right;
};

// The merges the official reads: lines [1, kMaxMerges + 1).
absl::StatusOr<std::vector<MergeLine>> ParseMerges(absl::string_view text) {
  if (text.empty()) return absl::DataLossError("it is empty");
  if (!IsWellFormedUtf8(text)) {
    return absl::DataLossError("it is not UTF-8 text");
  }
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.back().empty()) lines.pop_back();
  const size_t end = std::min(
      lines.size(), static_cast<size_t>(ClipTokenizer::kMaxMerges) + 1);
  std::vector<MergeLine> merges;
  for (size_t i = 1; i < end; ++i) {
    std::vector<std::string> parts = absl::StrSplit(
        lines[i], absl::ByAnyChar(" \t\r\v\f"), absl::SkipEmpty());
    if (parts.size() != 2) {
      return absl::DataLossError(absl::StrCat(
          "line ", i + 1, " is not two symbols separated by a space: '",
          lines[i], "'"));
    }
    merges.push_back({static_cast<int>(i + 1), parts[0], parts[1]});
  }
  return merges;
}

absl::Status Corrupt(absl::string_view source, absl::string_view why) {
  return absl::DataLossError(
      absl::StrCat("'", source, "' is not a CLIP BPE merges file: ", why));
}

// Reads a gzip file, or a plain one as it is (zlib reads both).
absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("'", path, "'"));
  }
  std::string text;
  char buffer[1 << 16];
  int read;
  while ((read = gzread(file, buffer, sizeof(buffer))) > 0) {
    text.append(buffer, read);
  }
  int error = Z_OK;
  const std::string why = gzerror(file, &error);
  gzclose(file);
  if (read < 0 || error != Z_OK) {
    return Corrupt(path, absl::StrCat("cannot decompress it: ", why));
  }
  return text;
}

}  // namespace

std::string ByteSymbol(uint8_t byte) {
  return EncodeUtf8(std::u32string(1, ByteToUnicode()[byte]));
}

CharClass ClassOf(char32_t c) {
  if (IsSpace(c)) return CharClass::kNone;
  const uint32_t category = U_GET_GC_MASK(c);
  if (category & U_GC_L_MASK) return CharClass::kLetter;
  if (category & U_GC_N_MASK) return CharClass::kNumber;
  const uint32_t folded = U_GET_GC_MASK(u_foldCase(c, U_FOLD_CASE_DEFAULT));
  if (folded & (U_GC_L_MASK | U_GC_N_MASK)) return CharClass::kNone;
  return CharClass::kOther;
}

std::vector<std::string> SplitWords(absl::string_view text) {
  const std::u32string clean = CleanText(text);
  std::vector<std::string> words;
  for (size_t pos = 0; pos < clean.size();) {
    const size_t length = WordLength(clean, pos);
    if (length == 0) {
      ++pos;
      continue;
    }
    words.push_back(EncodeUtf8(std::u32string_view(clean).substr(pos, length)));
    pos += length;
  }
  return words;
}

absl::StatusOr<std::unique_ptr<ClipTokenizer>> ClipTokenizer::Load(
    const std::string& path) {
  absl::StatusOr<std::string> text = ReadMaybeGzipped(path);
  if (!text.ok()) return text.status();
  return FromMerges(*text, path);
}

absl::StatusOr<std::unique_ptr<ClipTokenizer>> ClipTokenizer::FromMerges(
    absl::string_view merges, absl::string_view source) {
  absl::StatusOr<std::vector<MergeLine>> lines = ParseMerges(merges);
  if (!lines.ok()) return Corrupt(source, lines.status().message());
  auto tokenizer = absl::WrapUnique(new ClipTokenizer);
  std::vector<std::string>& vocab = tokenizer->vocab_;
  vocab = ByteSymbols();
  for (const MergeLine& merge : *lines) {
    vocab.push_back(merge.left + merge.right);
  }
  vocab.emplace_back(kStartOfText);
  vocab.emplace_back(kEndOfText);
  // As the official's dict: a symbol spelled twice answers to its last id.
  absl::flat_hash_map<std::string, int> ids;
  for (int id = 0; id < static_cast<int>(vocab.size()); ++id)
    ids[vocab[id]] = id;

  for (int rank = 0; rank < static_cast<int>(lines->size()); ++rank) {
    const MergeLine& merge = (*lines)[rank];
    for (const std::string* symbol : {&merge.left, &merge.right}) {
      if (!ids.contains(*symbol)) {
        return Corrupt(source, absl::StrCat("line ", merge.line, ": '", *symbol,
                                            "' is not a symbol"));
      }
    }
    tokenizer->merges_[PairKey(ids[merge.left], ids[merge.right])] = {
        rank, ids[merge.left + merge.right]};
  }
  for (int b = 0; b < 256; ++b) {
    const std::string symbol = ByteSymbol(b);
    tokenizer->byte_ids_[b] = ids[symbol];
    tokenizer->last_byte_ids_[b] = ids[absl::StrCat(symbol, kEndOfWord)];
  }
  tokenizer->start_of_text_ = ids[std::string(kStartOfText)];
  tokenizer->end_of_text_ = ids[std::string(kEndOfText)];
  return tokenizer;
}

std::vector<int> ClipTokenizer::Bpe(absl::string_view word) const {
  std::vector<int> symbols;
  for (size_t i = 0; i < word.size(); ++i) {
    const auto byte = static_cast<uint8_t>(word[i]);
    symbols.push_back(i + 1 == word.size() ? last_byte_ids_[byte]
                                           : byte_ids_[byte]);
  }
  while (symbols.size() > 1) {
    // The adjacent pair of lowest rank, then every occurrence of it, left to
    // right.
    const Merge* best = nullptr;
    int left = 0, right = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merges_.find(PairKey(symbols[i], symbols[i + 1]));
      if (it != merges_.end() &&
          (best == nullptr || it->second.rank < best->rank)) {
        best = &it->second;
        left = symbols[i];
        right = symbols[i + 1];
      }
    }
    if (best == nullptr) break;
    std::vector<int> merged;
    for (size_t i = 0; i < symbols.size(); ++i) {
      if (i + 1 < symbols.size() && symbols[i] == left &&
          symbols[i + 1] == right) {
        merged.push_back(best->id);
        ++i;
      } else {
        merged.push_back(symbols[i]);
      }
    }
    symbols = std::move(merged);
  }
  return symbols;
}

std::vector<int> ClipTokenizer::CachedBpe(const std::string& word) const {
  {
    absl::MutexLock lock(&mutex_);
    auto it = cache_.find(word);
    if (it != cache_.end()) return it->second;
  }
  std::vector<int> ids = Bpe(word);
  absl::MutexLock lock(&mutex_);
  if (cache_.size() < kMaxCachedWords && word.size() <= kMaxCachedWordBytes) {
    cache_.emplace(word, ids);
  }
  return ids;
}

std::vector<int> ClipTokenizer::Encode(absl::string_view text) const {
  std::vector<int> ids;
  for (const std::string& word : SplitWords(text)) {
    if (word == kStartOfText) {
      ids.push_back(start_of_text_);
    } else if (word == kEndOfText) {
      ids.push_back(end_of_text_);
    } else {
      std::vector<int> word_ids = CachedBpe(word);
      ids.insert(ids.end(), word_ids.begin(), word_ids.end());
    }
  }
  return ids;
}

std::vector<int> ClipTokenizer::EncodeForModel(absl::string_view text,
                                               int context_length) const {
  TORCH_CHECK(context_length >= 1, "context_length must be at least 1, got ",
              context_length);
  std::vector<int> ids = {start_of_text_};
  std::vector<int> words = Encode(text);
  ids.insert(ids.end(), words.begin(), words.end());
  ids.push_back(end_of_text_);
  if (static_cast<int>(ids.size()) > context_length) {
    ids.resize(context_length);
    ids.back() = end_of_text_;
  }
  return ids;
}

torch::Tensor ClipTokenizer::Tokenize(const std::vector<std::string>& texts,
                                      int context_length) const {
  TORCH_CHECK(context_length >= 1, "context_length must be at least 1, got ",
              context_length);
  torch::Tensor tokens = torch::zeros(
      {static_cast<int64_t>(texts.size()), context_length}, torch::kInt64);
  auto rows = tokens.accessor<int64_t, 2>();
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int> ids = EncodeForModel(texts[i], context_length);
    for (size_t j = 0; j < ids.size(); ++j) rows[i][j] = ids[j];
  }
  return tokens;
}

absl::StatusOr<std::string> ClipTokenizer::Decode(
    absl::Span<const int> ids) const {
  std::string bytes;
  for (int id : ids) {
    if (id < 0 || id >= vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "id ", id, " is outside the vocabulary of ", vocab_size()));
    }
    for (char32_t c : DecodeUtf8(vocab_[id])) {
      bytes.push_back(UnicodeToByte(c));
    }
  }
  return absl::StrReplaceAll(EncodeUtf8(DecodeUtf8(bytes)),
                             {{kEndOfWord, " "}});
}

}  // namespace iv::text
