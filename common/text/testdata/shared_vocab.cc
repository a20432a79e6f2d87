#include "common/text/testdata/shared_vocab.h"

#include <filesystem>

namespace iv::text {

std::string SharedVocabPath() {
  // Tests run inside their runfiles tree, whose WORKSPACE links to the
  // source tree's.
  std::error_code error;
  const std::filesystem::path workspace =
      std::filesystem::canonical("WORKSPACE", error);
  if (error) return "";
  const std::filesystem::path vocab =
      workspace.parent_path().parent_path() /
      "shared/data/bpe_simple_vocab_16e6.txt.gz";
  return std::filesystem::exists(vocab, error) ? vocab.string() : "";
}

}  // namespace iv::text
