#include "common/text/bpe_trainer.h"

#include <cstdint>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/text/clip_tokenizer.h"

namespace iv::text {
namespace {

uint64_t PairKey(int left, int right) {
  return (static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right);
}

bool HasPair(const std::vector<int>& symbols, int left, int right) {
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (symbols[i] == left && symbols[i + 1] == right) return true;
  }
  return false;
}

struct Candidate {
  int64_t count;
  int left;
  int right;
};

struct Word {
  std::vector<int> symbols;
  int64_t count;  // occurrences in the corpus
};

// Pair counts are kept up to date as merges rewrite words, and only the words
// holding the merged pair are rewritten, so a step costs what it changes
// rather than a pass over the corpus.
class Trainer {
 public:
  explicit Trainer(absl::Span<const std::string> corpus);
  // The next merge as "left right", or false when no pair is left.
  bool NextMerge(std::string* line);

 private:
  int Intern(const std::string& symbol);
  // A word's adjacent pairs, added to (sign 1) or taken from (-1) the counts.
  void CountPairs(int word, int sign, absl::flat_hash_set<uint64_t>* touched);
  void MergeInWord(int word, int left, int right, int merged);

  std::vector<std::string> names_;  // symbol id -> UTF-8
  absl::flat_hash_map<std::string, int> ids_;
  std::vector<Word> words_;
  absl::flat_hash_map<uint64_t, int64_t> pair_counts_;
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<int>> pair_words_;
  // Best first; entries whose count is out of date are skipped when popped.
  std::priority_queue<Candidate, std::vector<Candidate>,
                      std::function<bool(const Candidate&, const Candidate&)>>
      queue_;
};

Trainer::Trainer(absl::Span<const std::string> corpus)
    : queue_([this](const Candidate& a, const Candidate& b) {
        if (a.count != b.count) return a.count < b.count;
        if (a.left != b.left) return names_[a.left] > names_[b.left];
        return names_[a.right] > names_[b.right];
      }) {
  absl::flat_hash_map<std::string, int64_t> counts;
  for (const std::string& line : corpus) {
    for (const std::string& word : SplitWords(line)) {
      if (word != "<|startoftext|>" && word != "<|endoftext|>") {
        ++counts[word];
      }
    }
  }
  for (const auto& [text, count] : counts) {
    Word word{{}, count};
    for (size_t i = 0; i < text.size(); ++i) {
      std::string symbol = ByteSymbol(static_cast<uint8_t>(text[i]));
      if (i + 1 == text.size()) symbol += "</w>";
      word.symbols.push_back(Intern(symbol));
    }
    words_.push_back(std::move(word));
  }
  absl::flat_hash_set<uint64_t> pairs;
  for (int word = 0; word < static_cast<int>(words_.size()); ++word) {
    CountPairs(word, 1, &pairs);
  }
  for (uint64_t pair : pairs) {
    queue_.push({pair_counts_[pair], static_cast<int>(pair >> 32),
                 static_cast<int>(pair & 0xFFFFFFFF)});
  }
}

int Trainer::Intern(const std::string& symbol) {
  auto [it, added] = ids_.try_emplace(symbol, static_cast<int>(names_.size()));
  if (added) names_.push_back(symbol);
  return it->second;
}

void Trainer::CountPairs(int word, int sign,
                         absl::flat_hash_set<uint64_t>* touched) {
  const Word& w = words_[word];
  for (size_t i = 0; i + 1 < w.symbols.size(); ++i) {
    const uint64_t pair = PairKey(w.symbols[i], w.symbols[i + 1]);
    pair_counts_[pair] += sign * w.count;
    if (sign > 0) pair_words_[pair].insert(word);
    touched->insert(pair);
  }
}

// Left to right, as the tokenizer merges.
void Trainer::MergeInWord(int word, int left, int right, int merged) {
  std::vector<int>& symbols = words_[word].symbols;
  std::vector<int> out;
  for (size_t i = 0; i < symbols.size(); ++i) {
    if (i + 1 < symbols.size() && symbols[i] == left &&
        symbols[i + 1] == right) {
      out.push_back(merged);
      ++i;
    } else {
      out.push_back(symbols[i]);
    }
  }
  symbols = std::move(out);
}

bool Trainer::NextMerge(std::string* line) {
  while (!queue_.empty()) {
    const Candidate best = queue_.top();
    queue_.pop();
    const uint64_t pair = PairKey(best.left, best.right);
    if (best.count <= 0 || pair_counts_[pair] != best.count) continue;
    *line = absl::StrCat(names_[best.left], " ", names_[best.right]);
    const int merged = Intern(names_[best.left] + names_[best.right]);
    absl::flat_hash_set<uint64_t> touched;
    const absl::flat_hash_set<int> holders = pair_words_[pair];
    for (int word : holders) {
      // Earlier merges may have taken the pair out of this word.
      if (!HasPair(words_[word].symbols, best.left, best.right)) continue;
      CountPairs(word, -1, &touched);
      MergeInWord(word, best.left, best.right, merged);
      CountPairs(word, 1, &touched);
    }
    for (uint64_t changed : touched) {
      queue_.push({pair_counts_[changed], static_cast<int>(changed >> 32),
                   static_cast<int>(changed & 0xFFFFFFFF)});
    }
    return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::string> TrainBpe(absl::Span<const std::string> corpus,
                                     int num_merges) {
  if (num_merges < 0 || num_merges > ClipTokenizer::kMaxMerges) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_merges: must be in [0, ", ClipTokenizer::kMaxMerges,
                     "], got ", num_merges));
  }
  Trainer trainer(corpus);
  std::string merges = "#version: 0.2";
  std::string line;
  for (int i = 0; i < num_merges && trainer.NextMerge(&line); ++i) {
    absl::StrAppend(&merges, "\n", line);
  }
  return merges;
}

}  // namespace iv::text
