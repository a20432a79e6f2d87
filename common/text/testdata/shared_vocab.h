// Where tests find OpenAI's CLIP vocabulary: ../shared/data beside the source
// tree, on the project's machines only (it is never committed).
#ifndef COMMON_TEXT_TESTDATA_SHARED_VOCAB_H_
#define COMMON_TEXT_TESTDATA_SHARED_VOCAB_H_

#include <string>

namespace iv::text {

// The path of bpe_simple_vocab_16e6.txt.gz, found from the WORKSPACE file in
// the test's runfiles (a link back to the source tree); empty when absent.
// Depend on //common/text:shared_vocab, which brings the WORKSPACE along.
std::string SharedVocabPath();

}  // namespace iv::text

#endif  // COMMON_TEXT_TESTDATA_SHARED_VOCAB_H_
