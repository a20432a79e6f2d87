#include "common/text/clip_tokenizer.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/process/command.h"
#include "common/synthworld/vocabulary.h"
#include "common/text/bpe_trainer.h"
#include "common/text/testdata/shared_vocab.h"
#include "common/text/text_cleaning.h"

namespace iv::text {
namespace {

using nlohmann::json;

const char kReference[] = "common/text/testdata/clip_tokenizer_reference.py";

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/", name);
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Runs the Python reference with `input` as JSON on its stdin.
json RunReference(const std::string& arguments, const json& input = json()) {
  const std::string input_path = TempPath("reference_input.json");
  WriteFile(input_path, input.dump());
  const std::string command = absl::StrCat("/usr/bin/python3 ", kReference, " ",
                                           arguments, " < ", input_path);
  const process::CommandResult run = process::RunCommand(command);
  EXPECT_EQ(run.exit_code, 0) << command << "\n" << run.output;
  return json::parse(run.output);
}

std::string LongCaption() {
  std::string text;
  for (int i = 0; i < 30; ++i) {
    absl::StrAppend(&text, "a small red triangle moves left, then ");
  }
  return text;
}

// Every kind of text the encoder service may be sent.
std::vector<std::string> GoldenTexts() {
  return {
      // Plain and SynthWorld captions.
      "a diagram",
      "a photo of a dog",
      "A man is playing a guitar on stage.",
      "a small red triangle disappears while a purple triangle stays still",
      "a large blue circle slides to the left",
      // Punctuation.
      "Hello, world!!! ... (really?) -- yes; #1 @user $5.00 100% [x] {y}",
      "\"quoted\" 'single' `back` e-mail: someone@example.com path/to/a.mp4",
      // Contractions, also with curly apostrophes and in capitals.
      "it's",
      "we'll",
      "I'M HERE, they're sure you've seen she'd gone",
      "don't stop rock 'n' roll ''s the dog's",
      "it’s WE’LL ‘single’ “double”",
      // Numbers.
      "1234567890 3.14159 in 2023, 1,000,000 people; the 10th",
      "½ ¼ x² Ⅻ ٣٤ ๓",
      // Unicode: accents (NFC and NFD), scripts, emoji, case mapping.
      "café naïve résumé Ångström",
      "cafe\u0301 nai\u0308ve",
      "日本語のテキスト",
      "中文测试 视频",
      "한국어 문장",
      "Привет мир",
      "مرحبا بالعالم",
      "🙂🎉 emoji 👨‍👩‍👧 flag 🇫🇷",
      "İstanbul ΟΔΟΣ straße STRASSE ǅemal",
      "ﬁne ﬂow ﬅ ĳ ŉ",
      "ＬＯＵＤ　ＮＯＩＳＥＳ ｶﾞ Ｈｅｌｌｏ",
      "x\u0345y it'ſ",
      // HTML entities, as ftfy then html.unescape (twice) read them.
      "Tom &amp; Jerry",
      "&lt;b&gt;bold&lt;/b&gt;",
      "&amp;amp;amp;amp;",
      "&quot;hi&quot; &#39;there&#39; caf&eacute; P&EACUTE;REZ",
      "&#x1F600; &#128512; &nbsp;non&nbsp;breaking &#128;uro",
      "&ampxyz &notit; &notin; &#0; &#1; &#xD800; &#59;",
      "<p>keep &amp;amp; literal</p>",
      "a &amp;amp; b\n<tag> &amp;amp; c",
      // References that only appear once others are replaced (ftfy repeats
      // until nothing changes), also across what came before them.
      "&l&#116; &l&#116;; &&amp;lt; &am&#112;;lt; &#38;amp;gt; &#x26;#38;lt;",
      "&amp&amp;amp;; &&&amp;amp;;; x&#65286;amp;y &#65286;#65286;",
      "&no&#116;in; &amp;notin &amp;notit;",
      // ftfy's other fixes.
      "\x1b[31mred\x1b[0m text",
      "zero\u200bwidth bom\ufeffhere",
      "line\r\nbreak\u2028sep\u2029end",
      "c1 \u0080 \u0092 \u0085 \u009d",
      "soft\u00adhyphen tab\tand\vvertical\x01"
      "ctl\x1c"
      "sep",
      // White space and nothing.
      "  lots   of\t\twhite \n\n space  ",
      "\u3000ideographic\u00a0nbsp\u2003em",
      "",
      "   ",
      "\n",
      // Special tokens typed in the text.
      "<|startoftext|>hello<|endoftext|>",
      "<|ENDOFTEXT|> <|ſtartoftext|>",
      // Not UTF-8: each bad sequence reads as U+FFFD.
      "\xff\xfe"
      "bad",
      "\xe2\x82 truncated",
      "\xf0\x80\x80\x80 overlong",
      "\xed\xa0\x80 surrogate",
      // Longer than 77 tokens: truncated, end of text last.
      LongCaption(),
      std::string(3000, 'z'),
  };
}

class OfficialVocabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vocab_ = SharedVocabPath();
    if (vocab_.empty()) {
      GTEST_SKIP() << "no ../shared/data/bpe_simple_vocab_16e6.txt.gz beside "
                      "the source tree: nothing to compare with";
    }
    auto tokenizer = ClipTokenizer::Load(vocab_);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = std::move(*tokenizer);
  }

  std::string vocab_;
  std::unique_ptr<ClipTokenizer> tokenizer_;
};

TEST_F(OfficialVocabTest, GoldenIdsMatchTheReference) {
  const std::vector<std::string> texts = GoldenTexts();
  json hex = json::array();
  for (const std::string& text : texts)
    hex.push_back(absl::BytesToHexString(text));
  const json expected =
      RunReference(absl::StrCat("encode ", vocab_, " 77"), hex);
  ASSERT_EQ(expected.size(), texts.size());
  const torch::Tensor tokens = tokenizer_->Tokenize(texts);
  ASSERT_EQ(tokens.sizes(),
            (std::vector<int64_t>{static_cast<int64_t>(texts.size()), 77}));
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int> row = expected[i].get<std::vector<int>>();
    EXPECT_EQ(tokenizer_->EncodeForModel(texts[i]), row)
        << "text " << i << ": '" << texts[i] << "'";
    std::vector<int64_t> padded(row.begin(), row.end());
    padded.resize(77, 0);
    EXPECT_TRUE(torch::equal(tokens[i], torch::tensor(padded))) << i;
  }
}

TEST_F(OfficialVocabTest, KnownIds) {
  EXPECT_EQ(tokenizer_->vocab_size(), 49408);
  EXPECT_EQ(tokenizer_->start_of_text(), 49406);
  EXPECT_EQ(tokenizer_->end_of_text(), 49407);
  // From the official tokenizer: clip.tokenize("a diagram") and friends.
  EXPECT_EQ(tokenizer_->Encode("a diagram"), (std::vector<int>{320, 22697}));
  EXPECT_EQ(tokenizer_->Encode("a dog"), (std::vector<int>{320, 1929}));
  EXPECT_EQ(tokenizer_->Encode("a cat"), (std::vector<int>{320, 2368}));
  EXPECT_EQ(tokenizer_->Encode("it's"), (std::vector<int>{585, 568}));
  EXPECT_EQ(tokenizer_->Encode("we'll"), (std::vector<int>{649, 1342}));
  const torch::Tensor row = tokenizer_->Tokenize({"a diagram"})[0];
  EXPECT_TRUE(
      torch::equal(row.slice(0, 0, 4),
                   torch::tensor({49406, 320, 22697, 49407}, torch::kInt64)));
  EXPECT_EQ(row.slice(0, 4).count_nonzero().item<int64_t>(), 0);
}

TEST_F(OfficialVocabTest, BatchShapeTruncationAndPadding) {
  const torch::Tensor tokens =
      tokenizer_->Tokenize({"a dog", "", LongCaption()}, 16);
  EXPECT_EQ(tokens.scalar_type(), torch::kInt64);
  EXPECT_EQ(tokens.sizes(), (std::vector<int64_t>{3, 16}));
  EXPECT_EQ(tokens[1][0].item<int64_t>(), 49406);
  EXPECT_EQ(tokens[1][1].item<int64_t>(), 49407);
  EXPECT_EQ(tokens[1].slice(0, 2).count_nonzero().item<int64_t>(), 0);
  EXPECT_EQ(tokens[2].count_nonzero().item<int64_t>(), 16);
  EXPECT_EQ(tokens[2][15].item<int64_t>(), 49407);
  // What clip.tokenize(truncate=True) keeps: the first ids, then EOT.
  std::vector<int> long_ids = tokenizer_->EncodeForModel(LongCaption(), 1000);
  std::vector<int> kept = tokenizer_->EncodeForModel(LongCaption(), 16);
  ASSERT_EQ(kept.size(), 16u);
  EXPECT_TRUE(std::equal(kept.begin(), kept.end() - 1, long_ids.begin()));
  EXPECT_EQ(tokenizer_->EncodeForModel("a dog", 1), (std::vector<int>{49407}));
  EXPECT_EQ(tokenizer_->Tokenize({}).sizes(), (std::vector<int64_t>{0, 77}));
  EXPECT_THROW(tokenizer_->Tokenize({"a dog"}, 0), c10::Error);
}

TEST_F(OfficialVocabTest, NfdAndNfcSpellingsGiveTheSameIds) {
  EXPECT_EQ(tokenizer_->Encode("cafe\u0301"), tokenizer_->Encode("caf\u00e9"));
  EXPECT_EQ(tokenizer_->Encode("A\u030angstro\u0308m"),
            tokenizer_->Encode("\u00c5ngstr\u00f6m"));
}

TEST_F(OfficialVocabTest, DecodeMatchesTheReference) {
  json lists = json::array();
  for (const char* text :
       {"a photo of a dog", "café 日本 🙂", "it's 10%"}) {
    lists.push_back(tokenizer_->Encode(text));
  }
  // The byte symbols of 0xe2 and 0x82, a UTF-8 sequence cut short.
  lists.push_back(std::vector<int>{158, 224, 320});
  lists.push_back(std::vector<int>{49406, 320, 49407});
  const json expected = RunReference(absl::StrCat("decode ", vocab_), lists);
  for (size_t i = 0; i < lists.size(); ++i) {
    auto decoded = tokenizer_->Decode(lists[i].get<std::vector<int>>());
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, expected[i].get<std::string>()) << i;
  }
  EXPECT_EQ(*tokenizer_->Decode(tokenizer_->Encode("A photo of a DOG!")),
            "a photo of a dog ! ");
  EXPECT_EQ(*tokenizer_->Decode({158, 224}), "\ufffd");
  auto outside = tokenizer_->Decode({320, 49408});
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(outside.status().message().find("49408"), std::string::npos);
}

TEST_F(OfficialVocabTest, ConcurrentCallersShareTheCache) {
  const std::vector<std::string> texts = GoldenTexts();
  std::vector<std::vector<int>> expected;
  for (const std::string& text : texts)
    expected.push_back(tokenizer_->Encode(text));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < texts.size(); ++i) {
        mismatches[t] += tokenizer_->Encode(texts[i]) != expected[i];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(ClipTokenizerTest, CharacterClassesMatchTheRegexModule) {
  const json runs = RunReference("classes");
  int64_t checked = 0;
  for (const json& run : runs) {
    const std::string kind = run[2];
    const CharClass expected = kind == "L"   ? CharClass::kLetter
                               : kind == "N" ? CharClass::kNumber
                               : kind == "O" ? CharClass::kOther
                                             : CharClass::kNone;
    for (uint32_t c = run[0]; c <= run[1].get<uint32_t>(); ++c, ++checked) {
      ASSERT_EQ(ClassOf(c), expected) << "U+" << std::hex << c;
    }
  }
  EXPECT_EQ(checked, 0x110000 - 0x800);  // every code point but surrogates
}

TEST(ClipTokenizerTest, HtmlUnescapeMatchesPython) {
  const json cases = RunReference("unescape");
  ASSERT_GT(cases.size(), 2231u * 4);
  for (const json& c : cases) {
    const std::string input = c[0], expected = c[1];
    ASSERT_EQ(EncodeUtf8(HtmlUnescape(DecodeUtf8(input))), expected)
        << "'" << input << "'";
  }
}

TEST(ClipTokenizerTest, NestedReferencesCleanInOnePass) {
  // 250,000 levels of "&amp;": repeating passes until nothing changes took
  // a pass per level (hours); this must take one.
  std::string nested = "&";
  for (int i = 0; i < 250000; ++i) nested += "amp;";
  nested += "lt; b";
  EXPECT_EQ(EncodeUtf8(CleanText(nested)), "< b");
  EXPECT_EQ(EncodeUtf8(CleanText("&amp;amp;l&#116;;")), "<");
}

TEST(ClipTokenizerTest, Utf8DecodingReplacesEachBadSequence) {
  EXPECT_EQ(DecodeUtf8("a\xe2\x82"
                       "b"),
            U"a\ufffdb");
  EXPECT_EQ(DecodeUtf8("\xf0\x80\x80"), U"\ufffd\ufffd\ufffd");
  EXPECT_EQ(DecodeUtf8("\xed\xa0\x80"), U"\ufffd\ufffd\ufffd");
  EXPECT_EQ(DecodeUtf8("é🙂"), U"é🙂");
  EXPECT_EQ(EncodeUtf8(U"é🙂"), "é🙂");
  EXPECT_TRUE(IsWellFormedUtf8("é🙂"));
  EXPECT_FALSE(IsWellFormedUtf8("\xc3"));
}

// SynthWorld's captions: every size, color, shape and action phrasing.
std::vector<std::string> SynthWorldCaptions() {
  namespace sw = synthworld;
  std::vector<std::string> captions;
  for (const sw::Size& size : sw::Sizes()) {
    for (const sw::Color& color : sw::Colors()) {
      for (absl::string_view shape : sw::Shapes()) {
        for (const sw::ActionInfo& action : sw::Actions()) {
          captions.push_back(absl::StrCat("a ", size.name, " ", color.name, " ",
                                          shape, " ", action.phrase));
          for (absl::string_view phrase : action.paraphrases) {
            captions.push_back(
                absl::StrCat("The ", color.name, " ", shape, " ", phrase, "."));
          }
        }
      }
    }
  }
  return captions;
}

int CountMerges(const std::string& merges) {
  return static_cast<int>(std::count(merges.begin(), merges.end(), '\n'));
}

TEST(BpeTrainerTest, TrainedVocabularyLoadsAndRoundTrips) {
  const std::vector<std::string> corpus = SynthWorldCaptions();
  // More than the corpus can use: training stops once every word is whole.
  auto merges = TrainBpe(corpus, 2000);
  ASSERT_TRUE(merges.ok()) << merges.status();
  EXPECT_EQ(merges->substr(0, merges->find('\n')), "#version: 0.2");
  EXPECT_NE(merges->back(), '\n');
  const int num_merges = CountMerges(*merges);
  EXPECT_GT(num_merges, 100);
  EXPECT_LT(num_merges, 2000);
  auto tokenizer = ClipTokenizer::FromMerges(*merges, "trained");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->vocab_size(), 256 * 2 + num_merges + 2);
  EXPECT_EQ((*tokenizer)->start_of_text(), 512 + num_merges);
  for (const std::string& caption : {corpus[0], corpus[7], corpus.back()}) {
    const std::vector<int> ids = (*tokenizer)->Encode(caption);
    auto decoded = (*tokenizer)->Decode(ids);
    ASSERT_TRUE(decoded.ok());
    std::string expected = EncodeUtf8(CleanText(caption));
    // Decoding ends every word with a space, the "." included.
    if (expected.back() == '.') expected.insert(expected.size() - 1, " ");
    EXPECT_EQ(*decoded, expected + " ");
    EXPECT_EQ(ids.size(), SplitWords(caption).size()) << caption;
  }
}

TEST(BpeTrainerTest, IsDeterministicAndIgnoresCorpusOrder) {
  std::vector<std::string> corpus = SynthWorldCaptions();
  auto first = TrainBpe(corpus, 120);
  auto again = TrainBpe(corpus, 120);
  std::shuffle(corpus.begin(), corpus.end(), std::mt19937(7));
  auto shuffled = TrainBpe(corpus, 120);
  ASSERT_TRUE(first.ok() && again.ok() && shuffled.ok());
  EXPECT_EQ(*first, *again);
  EXPECT_EQ(*first, *shuffled);
}

TEST(BpeTrainerTest, BreaksTiesBySymbolsAndStopsWhenWordsAreWhole) {
  // Both pairs occur once: the smaller left symbol goes first.
  EXPECT_EQ(*TrainBpe({"cd", "ab"}, 1), "#version: 0.2\na b</w>");
  EXPECT_EQ(*TrainBpe({"cd", "ab"}, 5), "#version: 0.2\na b</w>\nc d</w>");
  // The most frequent pair wins over the smaller one.
  EXPECT_EQ(*TrainBpe({"ab", "cd", "cd"}, 1), "#version: 0.2\nc d</w>");
  EXPECT_EQ(*TrainBpe({}, 3), "#version: 0.2");
  auto tokenizer = ClipTokenizer::FromMerges(*TrainBpe({"cd", "ab"}, 5), "x");
  ASSERT_TRUE(tokenizer.ok());
  EXPECT_EQ((*tokenizer)->vocab_size(), 512 + 2 + 2);
  EXPECT_EQ((*tokenizer)->Encode("ab cd abcd"),
            (std::vector<int>{512, 513, 64, 65, 513}));
}

TEST(BpeTrainerTest, RefusesImpossibleMergeCounts) {
  EXPECT_EQ(TrainBpe({"a"}, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TrainBpe({"a"}, ClipTokenizer::kMaxMerges + 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BpeTrainerTest, ReferenceReadsTrainedFilesTheSameWay) {
  const std::vector<std::string> corpus = SynthWorldCaptions();
  const std::string merges = *TrainBpe(corpus, 200);
  const std::string text_path = TempPath("trained.txt");
  WriteFile(text_path, merges);
  const std::string gz_path = TempPath("trained.txt.gz");
  gzFile gz = gzopen(gz_path.c_str(), "wb");
  ASSERT_EQ(gzwrite(gz, merges.data(), merges.size()),
            static_cast<int>(merges.size()));
  gzclose(gz);
  auto from_text = ClipTokenizer::Load(text_path);
  auto from_gz = ClipTokenizer::Load(gz_path);
  ASSERT_TRUE(from_text.ok()) << from_text.status();
  ASSERT_TRUE(from_gz.ok()) << from_gz.status();

  const std::vector<std::string> texts = {
      corpus[3], corpus[100], "an unseen orange hexagon jumps!", "a diagram"};
  json hex = json::array();
  for (const std::string& text : texts)
    hex.push_back(absl::BytesToHexString(text));
  const json expected =
      RunReference(absl::StrCat("encode ", text_path, " 77"), hex);
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ((*from_text)->EncodeForModel(texts[i]),
              expected[i].get<std::vector<int>>())
        << texts[i];
    EXPECT_EQ((*from_gz)->EncodeForModel(texts[i]),
              (*from_text)->EncodeForModel(texts[i]));
  }
}

TEST(ClipTokenizerTest, ErrorsNameTheFile) {
  auto missing = ClipTokenizer::Load("/nonexistent/vocab.txt.gz");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/vocab.txt.gz"),
            std::string::npos);

  // A gzip file cut short.
  const std::string merges = *TrainBpe(SynthWorldCaptions(), 200);
  const std::string gz_path = TempPath("cut.txt.gz");
  gzFile gz = gzopen(gz_path.c_str(), "wb");
  gzwrite(gz, merges.data(), merges.size());
  gzclose(gz);
  std::ifstream in(gz_path, std::ios::binary);
  const std::string whole((std::istreambuf_iterator<char>(in)),
                          std::istreambuf_iterator<char>());
  WriteFile(gz_path, whole.substr(0, whole.size() / 2));

  const std::vector<std::pair<std::string, std::string>> corrupt = {
      {"", "empty"},
      {"#version: 0.2\ni n\nt h e\n", "line 3"},
      {"#version: 0.2\ni n\n\nt h\n", "line 3"},
      {"#version: 0.2\nin g</w>\n", "'in' is not a symbol"},
      {"#version: 0.2\ni \xff\n", "not UTF-8"},
  };
  for (const auto& [text, why] : corrupt) {
    const std::string path = TempPath("corrupt.txt");
    WriteFile(path, text);
    auto loaded = ClipTokenizer::Load(path);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss) << why;
    EXPECT_NE(loaded.status().message().find(path), std::string::npos);
    EXPECT_NE(loaded.status().message().find(why), std::string::npos)
        << loaded.status();
  }
  auto cut = ClipTokenizer::Load(gz_path);
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(cut.status().message().find(gz_path), std::string::npos)
      << cut.status();
}

}  // namespace
}  // namespace iv::text
