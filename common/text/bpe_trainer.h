// Learns a byte-level BPE vocabulary from a text corpus, for the project's
// own small models (iv-tiny on SynthWorld captions), written as a CLIP merges
// file so that ClipTokenizer (and the official Python tokenizer) load it as
// they load OpenAI's.
#ifndef COMMON_TEXT_BPE_TRAINER_H_
#define COMMON_TEXT_BPE_TRAINER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace iv::text {

// The merges file text: the header "#version: 0.2", then one "left right"
// line per merge, best first, and no final newline (the official loader
// would read one as an extra empty entry). The words are SplitWords of each
// corpus line, the special tokens left out, so training sees the text as the
// tokenizer will. Each step merges the adjacent pair of symbols that occurs
// most often in the corpus; a tie goes to the pair whose left symbol, then
// right symbol, is smallest in UTF-8 byte order. So the result depends only
// on the multiset of lines. Stops early, with fewer merges, once every word
// is a single symbol. The tokenizer's vocabulary is then 256 * 2 + merges +
// 2 ids. INVALID_ARGUMENT unless 0 <= num_merges <= ClipTokenizer::kMaxMerges.
absl::StatusOr<std::string> TrainBpe(absl::Span<const std::string> corpus,
                                     int num_merges);

}  // namespace iv::text

#endif  // COMMON_TEXT_BPE_TRAINER_H_
