#include "common/text/text_cleaning.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace iv::text {
namespace {

constexpr char32_t kReplacementCharacter = 0xFFFD;

// Bytes 0x80..0x9F read as Windows-1252, the five unassigned ones passed
// through. HTML5 reads &#128;..&#159; this way and ftfy's fix_c1_controls
// ("sloppy" Windows-1252) reads stray C1 controls this way.
constexpr char32_t kWindows1252C1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

struct NamedReference {
  const char* name;  // without '&' and ';'
  const char32_t* value;
  bool legacy;  // also recognized without the ';'
};

constexpr NamedReference kNamedReferences[] = {
#include "common/text/html_entities.inc"
};

// ---- ICU helpers -----------------------------------------------------------

icu::UnicodeString ToIcu(std::u32string_view text) {
  return icu::UnicodeString::fromUTF32(
      reinterpret_cast<const UChar32*>(text.data()),
      static_cast<int32_t>(text.size()));
}

std::u32string FromIcu(const icu::UnicodeString& text) {
  std::u32string out;
  out.reserve(text.length());
  for (int32_t i = 0; i < text.length(); i = text.moveIndex32(i, 1)) {
    out.push_back(static_cast<char32_t>(text.char32At(i)));
  }
  return out;
}

// The normalizers live in the linked ICU data library: loading them cannot
// fail at run time.
const icu::Normalizer2& Nfc() {
  UErrorCode error = U_ZERO_ERROR;
  static const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(error);
  return *nfc;
}

const icu::Normalizer2& Nfkc() {
  UErrorCode error = U_ZERO_ERROR;
  static const icu::Normalizer2* nfkc =
      icu::Normalizer2::getNFKCInstance(error);
  return *nfkc;
}

std::u32string Normalize(const icu::Normalizer2& form,
                         std::u32string_view text) {
  UErrorCode error = U_ZERO_ERROR;
  return FromIcu(form.normalize(ToIcu(text), error));
}

std::u32string ToUpper(std::u32string_view text) {
  return FromIcu(ToIcu(text).toUpper(icu::Locale::getRoot()));
}

std::u32string ToLower(std::u32string_view text) {
  return FromIcu(ToIcu(text).toLower(icu::Locale::getRoot()));
}

// ---- html.unescape ---------------------------------------------------------

std::optional<std::string> ToAscii(std::u32string_view text) {
  std::string ascii;
  for (char32_t c : text) {
    if (c > 0x7F) return std::nullopt;
    ascii.push_back(static_cast<char>(c));
  }
  return ascii;
}

const absl::flat_hash_map<std::string, const NamedReference*>& ByName() {
  static const auto* by_name = [] {
    auto* map = new absl::flat_hash_map<std::string, const NamedReference*>;
    for (const NamedReference& reference : kNamedReferences) {
      (*map)[reference.name] = &reference;
    }
    return map;
  }();
  return *by_name;
}

// The replacement for `name` (after the '&'): a name ending in ';', or a
// legacy name without it; nullptr for anything else.
const char32_t* FindNamedReference(std::u32string_view name) {
  const bool semicolon = !name.empty() && name.back() == U';';
  if (semicolon) name.remove_suffix(1);
  std::optional<std::string> ascii = ToAscii(name);
  if (!ascii) return nullptr;
  auto it = ByName().find(*ascii);
  if (it == ByName().end() || (!semicolon && !it->second->legacy)) {
    return nullptr;
  }
  return it->second->value;
}

// HTML5's code points that a numeric reference may not produce and that
// Python drops: most C0 controls, DEL, the noncharacters.
bool IsDroppedCodePoint(uint32_t c) {
  return (c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) ||
         (c >= 0x7F && c <= 0x9F) || (c >= 0xFDD0 && c <= 0xFDEF) ||
         (c & 0xFFFE) == 0xFFFE;
}

std::u32string NumericReference(uint32_t c) {
  if (c == 0x00) return {kReplacementCharacter};
  if (c == 0x0D) return U"\r";
  if (c >= 0x80 && c <= 0x9F) return {kWindows1252C1[c - 0x80]};
  if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) {
    return {kReplacementCharacter};
  }
  if (IsDroppedCodePoint(c)) return {};
  return {static_cast<char32_t>(c)};
}

int DigitValue(char32_t c, int base) {
  if (c >= U'0' && c <= U'9') return c - U'0';
  if (base == 16 && c >= U'a' && c <= U'f') return c - U'a' + 10;
  if (base == 16 && c >= U'A' && c <= U'F') return c - U'A' + 10;
  return -1;
}

// `#` digits `;`? starting at text[start] == '#'. Returns the end of the
// reference (0 when there is none) and sets `replacement`.
size_t ParseNumericReference(std::u32string_view text, size_t start,
                             std::u32string* replacement) {
  size_t i = start + 1;
  int base = 10;
  if (i + 1 < text.size() && (text[i] == U'x' || text[i] == U'X') &&
      DigitValue(text[i + 1], 16) >= 0) {
    base = 16;
    ++i;
  }
  if (i >= text.size() || DigitValue(text[i], base) < 0) return 0;
  // Saturates: every value past U+10FFFF gets the same replacement.
  constexpr uint64_t kTooLarge = 0x110000;
  uint64_t value = 0;
  for (; i < text.size() && DigitValue(text[i], base) >= 0; ++i) {
    value = std::min(kTooLarge, value * base + DigitValue(text[i], base));
  }
  if (i < text.size() && text[i] == U';') ++i;
  *replacement = NumericReference(static_cast<uint32_t>(value));
  return i;
}

bool EndsName(char32_t c) {
  return c == U'\t' || c == U'\n' || c == U'\f' || c == U' ' || c == U'<' ||
         c == U'&' || c == U'#' || c == U';';
}

// A name of up to 32 code points and an optional ';' at text[start]. An
// unknown name keeps its longest legacy prefix ("&ampxyz" is "&xyz").
size_t ParseNamedReference(std::u32string_view text, size_t start,
                           std::u32string* replacement) {
  size_t end = start;
  while (end < text.size() && end - start < 32 && !EndsName(text[end])) ++end;
  if (end == start) return 0;
  if (end < text.size() && text[end] == U';') ++end;
  const std::u32string_view name = text.substr(start, end - start);
  if (const char32_t* value = FindNamedReference(name)) {
    *replacement = value;
    return end;
  }
  for (size_t prefix = name.size() - 1; prefix >= 2; --prefix) {
    if (const char32_t* value = FindNamedReference(name.substr(0, prefix))) {
      *replacement =
          std::u32string(value) + std::u32string(name.substr(prefix));
      return end;
    }
  }
  *replacement = U"&" + std::u32string(name);
  return end;
}

// ---- ftfy ------------------------------------------------------------------

// ftfy also decodes the all-caps spelling of an all-lowercase name
// ("&EACUTE;" is "É") where that spelling means nothing to html.unescape.
const absl::flat_hash_map<std::string, std::u32string>& UppercaseNames() {
  static const auto* uppercase = [] {
    auto* map = new absl::flat_hash_map<std::string, std::u32string>;
    for (const NamedReference& reference : kNamedReferences) {
      std::string upper = reference.name;
      bool lowercase = true;
      for (char& c : upper) {
        lowercase = lowercase && !(c >= 'A' && c <= 'Z');
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      }
      std::u32string spelled = U"&";
      for (char c : upper) spelled.push_back(static_cast<char32_t>(c));
      spelled.push_back(U';');
      if (lowercase && HtmlUnescape(spelled) == spelled) {
        (*map)[upper] = ToUpper(reference.value);
      }
    }
    return map;
  }();
  return *uppercase;
}

bool IsAsciiLetter(char32_t c) {
  return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z');
}

bool IsAsciiAlnum(char32_t c) {
  return (c >= U'0' && c <= U'9') || IsAsciiLetter(c);
}

// The end of ftfy's entity pattern `&#?[0-9A-Za-z]{1,24};` at text[start],
// or 0 when it does not match there.
size_t FtfyEntityEnd(std::u32string_view text, size_t start) {
  if (text[start] != U'&') return 0;
  size_t first = start + 1;
  if (first < text.size() && text[first] == U'#') ++first;
  size_t end = first;
  while (end < text.size() && end - first < 24 && IsAsciiAlnum(text[end])) {
    ++end;
  }
  if (end == first || end >= text.size() || text[end] != U';') return 0;
  return end + 1;
}

std::u32string FtfyEntity(std::u32string_view entity) {
  const std::u32string_view body = entity.substr(1);  // "name;" or "#...;"
  if (const char32_t* value = FindNamedReference(body)) return value;
  std::optional<std::string> name = ToAscii(body.substr(0, body.size() - 1));
  auto upper = UppercaseNames().find(*name);
  if (upper != UppercaseNames().end()) return upper->second;
  if (body[0] == U'#') {
    // Only a reference that consumes the whole entity counts.
    std::u32string unescaped = HtmlUnescape(entity);
    if (unescaped.find(U';') == std::u32string::npos) return unescaped;
  }
  return std::u32string(entity);
}

// ftfy's unescape_html repeated until nothing changes (fix_text repeats its
// steps so), in one linear pass: after a reference is replaced, scanning
// resumes at the last '&' that could start a new reference through the
// replacement ("&amp;lt;" -> "&lt;" -> "<"). Repeating whole passes instead
// costs a pass per level: "&amp;amp;...;" of n bytes took n/4 passes.
std::u32string FtfyUnescape(std::u32string_view text) {
  // The longest entity `&#?[0-9A-Za-z]{1,24};` has 27 code points.
  constexpr size_t kLongestEntity = 27;
  std::u32string out;    // settled text
  std::u32string input;  // pending text, reversed: its next code point last
  input.assign(text.rbegin(), text.rend());
  std::u32string window;  // the pending entity candidate
  while (!input.empty()) {
    // The candidate at the front of `input`, if any.
    window.clear();
    for (size_t k = 0; k < kLongestEntity && k < input.size(); ++k) {
      window.push_back(input[input.size() - 1 - k]);
    }
    const size_t end = FtfyEntityEnd(window, 0);
    if (end == 0) {
      out.push_back(input.back());
      input.pop_back();
      continue;
    }
    const std::u32string_view entity(window.data(), end);
    const std::u32string replaced = FtfyEntity(entity);
    input.resize(input.size() - end);
    if (replaced == entity) {  // not a reference: keep it
      out += replaced;
      continue;
    }
    // Every replacement is shorter than its entity, so the text shrinks and
    // the backing up below is paid for: each replacement re-reads at most
    // kLongestEntity settled code points.
    input.append(replaced.rbegin(), replaced.rend());
    const size_t from =
        out.size() > kLongestEntity ? out.size() - kLongestEntity : 0;
    const size_t amp = out.find_last_of(U'&');
    if (amp != std::u32string::npos && amp >= from) {
      input.append(out.rbegin(), out.rend() - amp);
      out.resize(amp);
    }
  }
  return out;
}

// Rewrites each code point with `rewrite(c, out)`.
template <typename Rewrite>
std::u32string Translate(std::u32string_view text, Rewrite rewrite) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) rewrite(c, out);
  return out;
}

std::u32string FixC1Controls(std::u32string_view text) {
  return Translate(text, [](char32_t c, std::u32string& out) {
    out.push_back(c >= 0x80 && c <= 0x9F ? kWindows1252C1[c - 0x80] : c);
  });
}

// ftfy's list: IJ, ŉ, the DŽ/LJ/NJ/DZ digraphs and the typographic ﬀ..ﬆ.
// Each becomes its compatibility decomposition one level deep, as ftfy's
// table has it (ﬅ is ſt, where NFKC would go on to st).
bool IsLatinLigature(char32_t c) {
  return c == 0x132 || c == 0x133 || c == 0x149 || (c >= 0x1C4 && c <= 0x1CC) ||
         (c >= 0x1F1 && c <= 0x1F3) || (c >= 0xFB00 && c <= 0xFB06);
}

std::u32string FixLatinLigatures(std::u32string_view text) {
  return Translate(text, [](char32_t c, std::u32string& out) {
    icu::UnicodeString parts;
    if (IsLatinLigature(c) && Nfkc().getRawDecomposition(c, parts)) {
      out += FromIcu(parts);
    } else {
      out.push_back(c);
    }
  });
}

// The ideographic space and the Halfwidth and Fullwidth Forms block.
std::u32string FixCharacterWidth(std::u32string_view text) {
  return Translate(text, [](char32_t c, std::u32string& out) {
    if (c == 0x3000) {
      out.push_back(U' ');
    } else if (c >= 0xFF01 && c <= 0xFFEF) {
      out += Normalize(Nfkc(), std::u32string(1, c));
    } else {
      out.push_back(c);
    }
  });
}

std::u32string UncurlQuotes(std::u32string_view text) {
  return Translate(text, [](char32_t c, std::u32string& out) {
    if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) {
      out.push_back(U'\'');
    } else if (c >= 0x201C && c <= 0x201F) {
      out.push_back(U'"');
    } else {
      out.push_back(c);
    }
  });
}

std::u32string FixLineBreaks(std::u32string_view text) {
  std::u32string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == U'\r' && i + 1 < text.size() && text[i + 1] == U'\n') continue;
    const bool line_break =
        c == U'\r' || c == 0x2028 || c == 0x2029 || c == 0x85;
    out.push_back(line_break ? U'\n' : c);
  }
  return out;
}

// ESC '[' (decimal digit | ';')* ASCII letter. Python's \d is any Nd digit.
std::u32string RemoveTerminalEscapes(std::u32string_view text) {
  std::u32string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == 0x1B && i + 1 < text.size() && text[i + 1] == U'[') {
      size_t end = i + 2;
      while (end < text.size() &&
             (text[end] == U';' ||
              u_charType(text[end]) == U_DECIMAL_DIGIT_NUMBER)) {
        ++end;
      }
      if (end < text.size() && IsAsciiLetter(text[end])) {
        i = end;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

// Controls with no visible effect; white-space controls stay.
bool IsInvisibleControl(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
         (c >= 0x206A && c <= 0x206F) || c == 0xFEFF ||
         (c >= 0xFFF9 && c <= 0xFFFC);
}

std::u32string RemoveControlCharacters(std::u32string_view text) {
  return Translate(text, [](char32_t c, std::u32string& out) {
    if (!IsInvisibleControl(c)) out.push_back(c);
  });
}

// One line, in ftfy's order, until a pass changes nothing.
std::u32string FixSegment(std::u32string text, bool unescape_html) {
  while (true) {
    std::u32string fixed = unescape_html ? FtfyUnescape(text) : text;
    fixed = FixC1Controls(fixed);
    fixed = FixLatinLigatures(fixed);
    fixed = FixCharacterWidth(fixed);
    fixed = UncurlQuotes(fixed);
    fixed = FixLineBreaks(fixed);
    fixed = RemoveTerminalEscapes(fixed);
    fixed = RemoveControlCharacters(fixed);
    fixed = Normalize(Nfc(), fixed);
    if (fixed == text) return fixed;
    text = std::move(fixed);
  }
}

// Runs of white space become one space; none at either end.
std::u32string CollapseSpaces(std::u32string_view text) {
  std::u32string out;
  bool pending_space = false;
  for (char32_t c : text) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(U' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::u32string DecodeUtf8(absl::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  const int64_t length = static_cast<int64_t>(bytes.size());
  for (int64_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT_OR_FFFD(data, i, length, c);
    out.push_back(static_cast<char32_t>(c));
  }
  return out;
}

bool IsWellFormedUtf8(absl::string_view bytes) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  const int64_t length = static_cast<int64_t>(bytes.size());
  for (int64_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(data, i, length, c);
    if (c < 0) return false;
  }
  return true;
}

std::string EncodeUtf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    uint8_t bytes[U8_MAX_LENGTH];
    int32_t length = 0;
    U8_APPEND_UNSAFE(bytes, length, c);
    out.append(reinterpret_cast<const char*>(bytes), length);
  }
  return out;
}

bool IsSpace(char32_t c) { return u_isUWhiteSpace(c); }

std::u32string HtmlUnescape(std::u32string_view text) {
  std::u32string out;
  for (size_t i = 0; i < text.size();) {
    std::u32string replacement;
    size_t end = 0;
    if (text[i] == U'&' && i + 1 < text.size()) {
      end = text[i + 1] == U'#'
                ? ParseNumericReference(text, i + 1, &replacement)
                : ParseNamedReference(text, i + 1, &replacement);
    }
    if (end == 0) {
      out.push_back(text[i++]);
    } else {
      out += replacement;
      i = end;
    }
  }
  return out;
}

std::u32string FixText(std::u32string_view text) {
  std::u32string out;
  // As ftfy's "auto": a '<' means the text is HTML whose entities are meant
  // literally, and ftfy keeps that decision for the rest of the text.
  bool unescape_html = true;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find(U'\n', start);
    end = end == std::u32string_view::npos ? text.size() : end + 1;
    const std::u32string_view line = text.substr(start, end - start);
    if (line.find(U'<') != std::u32string_view::npos) unescape_html = false;
    out += FixSegment(std::u32string(line), unescape_html);
    start = end;
  }
  return out;
}

std::u32string CleanText(absl::string_view utf8) {
  std::u32string text = FixText(DecodeUtf8(utf8));
  text = HtmlUnescape(HtmlUnescape(text));
  return ToLower(CollapseSpaces(text));
}

}  // namespace iv::text
