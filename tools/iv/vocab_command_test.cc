// `iv vocab` as a process: a manifest whose captions and questions use every
// word of SynthWorld's vocabulary gives a tokenizer in which each of those
// words is one token, while a size without merges leaves them split.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/data/manifest.h"
#include "common/process/command.h"
#include "common/synthworld/vocabulary.h"
#include "common/testing/temp_dir.h"
#include "common/text/clip_tokenizer.h"

namespace iv {
namespace {

namespace sw = synthworld;

process::CommandResult RunVocab(const std::string& arguments) {
  return process::RunCommand(
      absl::StrCat("tools/iv/iv vocab ", arguments, " 2>&1"));
}

// One clip per action phrase and paraphrase, cycling colors, shapes and
// sizes, each with every question template filled for it.
std::vector<data::TrimmedClip> EveryWordClips(std::set<std::string>& words) {
  std::vector<data::TrimmedClip> clips;
  auto add_words = [&words](absl::string_view text) {
    for (absl::string_view word :
         absl::StrSplit(text, ' ', absl::SkipEmpty())) {
      if (word[0] != '<') words.insert(std::string(word));
    }
  };
  int i = 0;
  for (const sw::ActionInfo& action : sw::Actions()) {
    std::vector<absl::string_view> phrases(action.paraphrases.begin(),
                                           action.paraphrases.end());
    phrases.push_back(action.phrase);
    for (absl::string_view phrase : phrases) {
      data::TrimmedClip clip;
      clip.file = absl::StrCat("clips/c", i, ".mp4");
      clip.actor = {std::string(sw::Shapes()[i % sw::kNumShapes]),
                    std::string(sw::Colors()[i % sw::kNumColors].name),
                    std::string(sw::Sizes()[i % sw::kNumSizes].name)};
      clip.action = std::string(action.name);
      clip.action_id = action.id;
      clip.num_objects = 1;
      clip.captions.push_back(absl::StrCat("a ", clip.actor.size, " ",
                                           clip.actor.color, " ",
                                           clip.actor.shape, " ", phrase));
      add_words(clip.captions.back());
      for (const sw::QuestionTemplate& question : sw::QuestionTemplates()) {
        const std::string q = sw::FillTemplate(question.type, clip.actor.color,
                                               clip.actor.shape, phrase);
        clip.questions.push_back({q, std::string(sw::Answers()[i % 23])});
        add_words(q);
      }
      clips.push_back(clip);
      ++i;
    }
  }
  for (absl::string_view answer : sw::Answers()) add_words(answer);
  // Color and shape tables may hold words the cycling above skipped.
  for (const sw::Color& color : sw::Colors()) add_words(color.name);
  for (absl::string_view shape : sw::Shapes()) add_words(shape);
  for (const sw::Size& size : sw::Sizes()) add_words(size.name);
  // Answers appear as their own texts too (the answer vocabulary).
  for (data::TrimmedClip& clip : clips) {
    for (absl::string_view answer : sw::Answers()) {
      clip.questions.push_back({"what is it", std::string(answer)});
    }
  }
  return clips;
}

TEST(VocabCommandTest, EverySynthWorldWordIsOneToken) {
  const std::string dir = test::FreshTempDir("vocab");
  std::set<std::string> words;
  ASSERT_TRUE(
      data::WriteTrimmedManifest(dir + "/m.jsonl", EveryWordClips(words)).ok());
  ASSERT_GT(words.size(), 60u);

  const process::CommandResult big = RunVocab(absl::StrCat(
      "--manifest ", dir, "/m.jsonl --size 4000 --out ", dir, "/big"));
  ASSERT_EQ(big.exit_code, 0) << big.output;
  auto tokenizer = text::ClipTokenizer::Load(dir + "/big/bpe_vocab.txt");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  for (const std::string& word : words) {
    EXPECT_EQ((*tokenizer)->Encode(word).size(), 1u) << word;
  }
  // Stopped early: fewer tokens than asked once every word was one symbol.
  EXPECT_LT((*tokenizer)->vocab_size(), 4000);

  const process::CommandResult none = RunVocab(absl::StrCat(
      "--manifest ", dir, "/m.jsonl --size 514 --out ", dir, "/none"));
  ASSERT_EQ(none.exit_code, 0) << none.output;
  auto bytes = text::ClipTokenizer::Load(dir + "/none/bpe_vocab.txt");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ((*bytes)->Encode("counterclockwise").size(), 16u);

  const process::CommandResult small = RunVocab(
      absl::StrCat("--manifest ", dir, "/m.jsonl --size 100 --out ", dir));
  EXPECT_EQ(small.exit_code, 2);
  EXPECT_NE(small.output.find("--size"), std::string::npos) << small.output;
}

}  // namespace
}  // namespace iv
