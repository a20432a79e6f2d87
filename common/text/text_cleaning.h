// The text cleaning that OpenAI CLIP's tokenizer applies before it splits
// words: ftfy.fix_text, html.unescape twice, whitespace collapsed, lowercase.
// Works on code points (std::u32string) because the official pipeline is
// Python and counts, matches and maps code points, not bytes.
#ifndef COMMON_TEXT_TEXT_CLEANING_H_
#define COMMON_TEXT_TEXT_CLEANING_H_

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace iv::text {

// UTF-8 to code points. Each ill-formed sequence becomes one U+FFFD per
// maximal subpart, as Python's bytes.decode("utf-8", errors="replace") does.
std::u32string DecodeUtf8(absl::string_view bytes);
bool IsWellFormedUtf8(absl::string_view bytes);
std::string EncodeUtf8(std::u32string_view text);

// Unicode White_Space: what the `regex` module's \s matches. Python's
// str.isspace also counts U+001C..U+001F, which FixText deletes and
// HtmlUnescape never produces, so one definition serves every step.
bool IsSpace(char32_t c);

// Python's html.unescape: HTML5 named references (the legacy ones also
// without ';', and the longest legacy prefix of an unknown name), decimal and
// hex references with HTML5's replacements for invalid code points.
std::u32string HtmlUnescape(std::u32string_view text);

// ftfy.fix_text with its default settings, except its mojibake repair (the
// heuristic `fix_encoding` step): per line, HTML entities (skipped from the
// first line holding a '<' on), C1 controls read as Windows-1252, Latin
// ligatures split, fullwidth/halfwidth forms normalized, curly quotes
// straightened, line breaks unified, terminal escapes and invisible control
// characters removed, NFC; repeated until nothing changes, as ftfy does.
std::u32string FixText(std::u32string_view text);

// What the official tokenizer splits: whitespace_clean(basic_clean(text))
// .lower(), i.e. FixText, HtmlUnescape twice, runs of white space turned into
// one space, trimmed, and Unicode full lowercase (with final sigma).
std::u32string CleanText(absl::string_view utf8);

}  // namespace iv::text

#endif  // COMMON_TEXT_TEXT_CLEANING_H_
