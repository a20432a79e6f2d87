#!/usr/bin/python3
"""Independent reference for the C++ CLIP tokenizer (clip_tokenizer_test).

Written from the published behaviour of OpenAI CLIP's tokenizer
(clip/simple_tokenizer.py, clip.tokenize) with Python's own libraries: the
`regex` module for the word pattern and \\s, html.unescape, unicodedata,
str.lower, gzip. ftfy is not in Debian, so its default fixes other than the
mojibake heuristic are written here from ftfy's documentation; the C++ side
derives the same tables from ICU instead.

Usage: clip_tokenizer_reference.py COMMAND [ARGS] < INPUT.json
  encode VOCAB CONTEXT_LENGTH  input: hex UTF-8 texts; output: id rows,
                               start/end of text, truncated, not padded
  decode VOCAB                 input: id lists; output: texts
  classes                      output: [first, last, class] runs over every
                               code point but surrogates (L, N, O or -)
  unescape                     output: [input, html.unescape(input)] cases
"""
import gzip
import html
import html.entities
import json
import re
import sys
import unicodedata

import regex

WORD = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|"""
    r"""[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
SPECIALS = ("<|startoftext|>", "<|endoftext|>")


# ---- ftfy's default fixes, less fix_encoding ----------------------------------

def c1_as_windows_1252(char):
    try:
        return bytes([ord(char)]).decode("cp1252")
    except UnicodeDecodeError:
        return char


C1 = {c: c1_as_windows_1252(chr(c)) for c in range(0x80, 0xA0)}
LIGATURE_CODE_POINTS = [0x132, 0x133, 0x149, *range(0x1C4, 0x1CD),
                        *range(0x1F1, 0x1F4), *range(0xFB00, 0xFB07)]


def compat_decomposition(code_point):
    fields = unicodedata.decomposition(chr(code_point)).split()
    return "".join(chr(int(f, 16)) for f in fields if not f.startswith("<"))


LIGATURES = {c: compat_decomposition(c) for c in LIGATURE_CODE_POINTS}
WIDTH = {0x3000: " "}
WIDTH.update({c: unicodedata.normalize("NFKC", chr(c))
              for c in range(0xFF01, 0xFFF0)
              if unicodedata.normalize("NFKC", chr(c)) != chr(c)})
QUOTES = {0x2BC: "'", **{c: "'" for c in range(0x2018, 0x201C)},
          **{c: '"' for c in range(0x201C, 0x2020)}}
INVISIBLE = {c: None for c in [*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20),
                               0x7F, *range(0x206A, 0x2070), 0xFEFF,
                               *range(0xFFF9, 0xFFFD)]}
TERMINAL_ESCAPE = re.compile("\x1b\\[(?:\\d|;)*[a-zA-Z]")
FTFY_ENTITY = re.compile(r"&#?[0-9A-Za-z]{1,24};")


def uppercase_entities():
    found = {}
    for name, value in html.entities.html5.items():
        if name.endswith(";") and name == name.lower():
            spelled = "&" + name.upper()
            if html.unescape(spelled) == spelled:
                found[spelled] = value.upper()
    return found


UPPERCASE_ENTITIES = uppercase_entities()


def ftfy_entity(match):
    entity = match.group(0)
    if entity[1:] in html.entities.html5:
        return html.entities.html5[entity[1:]]
    if entity in UPPERCASE_ENTITIES:
        return UPPERCASE_ENTITIES[entity]
    if entity.startswith("&#"):
        unescaped = html.unescape(entity)
        if ";" not in unescaped:
            return unescaped
    return entity


def fix_line(line, unescape):
    while True:
        before = line
        if unescape:
            line = FTFY_ENTITY.sub(ftfy_entity, line)
        for table in (C1, LIGATURES, WIDTH, QUOTES):
            line = line.translate(table)
        line = line.replace("\r\n", "\n")
        for breaker in ("\r", "\u2028", "\u2029", "\x85"):
            line = line.replace(breaker, "\n")
        line = TERMINAL_ESCAPE.sub("", line)
        line = line.translate(INVISIBLE)
        line = unicodedata.normalize("NFC", line)
        if line == before:
            return line


def fix_text(text):
    pieces = text.split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]] + [pieces[-1]]
    unescape, fixed = True, []
    for line in filter(None, lines):
        unescape = unescape and "<" not in line
        fixed.append(fix_line(line, unescape))
    return "".join(fixed)


# ---- the tokenizer ----------------------------------------------------------

def byte_symbols():
    """bytes_to_unicode: printable Latin-1 bytes stay, others go to U+0100+."""
    printable = [b for b in range(256)
                 if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or b >= 0xAE]
    others = [b for b in range(256) if b not in printable]
    table = {b: chr(b) for b in printable}
    table.update({b: chr(0x100 + i) for i, b in enumerate(others)})
    return table


class Tokenizer:
    def __init__(self, vocab_path):
        opener = gzip.open if vocab_path.endswith(".gz") else open
        with opener(vocab_path, "rb") as f:
            lines = f.read().decode("utf-8").split("\n")
        merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
        self.byte_symbol = byte_symbols()
        singles = sorted(self.byte_symbol.values())
        vocab = singles + [s + "</w>" for s in singles]
        vocab += ["".join(m) for m in merges] + list(SPECIALS)
        self.ids = {symbol: i for i, symbol in enumerate(vocab)}
        self.symbols = {i: symbol for symbol, i in self.ids.items()}
        self.rank = {m: r for r, m in enumerate(merges)}

    def bpe(self, word):
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            ranked = [(self.rank.get(pair, float("inf")), pair)
                      for pair in zip(parts, parts[1:])]
            rank, pair = min(ranked)
            if rank == float("inf"):
                break
            merged, i = [], 0
            while i < len(parts):
                if tuple(parts[i:i + 2]) == pair:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return parts

    def encode(self, text):
        text = html.unescape(html.unescape(fix_text(text))).strip()
        text = regex.sub(r"\s+", " ", text).strip().lower()
        ids = []
        for word in WORD.findall(text):
            if word in SPECIALS:
                ids.append(self.ids[word])
                continue
            symbols = "".join(self.byte_symbol[b] for b in word.encode())
            ids += [self.ids[part] for part in self.bpe(symbols)]
        return ids

    def encode_for_model(self, text, context_length):
        ids = [self.ids[SPECIALS[0]]] + self.encode(text) + [self.ids[SPECIALS[1]]]
        if len(ids) > context_length:
            ids = ids[:context_length]
            ids[-1] = self.ids[SPECIALS[1]]
        return ids

    def decode(self, ids):
        byte_of = {symbol: b for b, symbol in self.byte_symbol.items()}
        data = bytes(byte_of[c] for i in ids for c in self.symbols[i])
        return data.decode("utf-8", errors="replace").replace("</w>", " ")


# ---- commands ---------------------------------------------------------------

CLASSES = [(name, regex.compile(pattern, regex.IGNORECASE))
           for name, pattern in (("L", r"[\p{L}]"), ("N", r"[\p{N}]"),
                                 ("O", r"[^\s\p{L}\p{N}]"))]


def char_class(char):
    """Which alternative of the word pattern takes `char`; "-" for none."""
    for name, pattern in CLASSES:
        if pattern.fullmatch(char):
            return name
    return "-"


def classes():
    runs = []
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        kind = char_class(chr(c))
        if runs and runs[-1][2] == kind and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c, kind])
    return runs


def unescape_cases():
    inputs = []
    for name in html.entities.html5:
        inputs += ["&" + name, "&" + name + "xy;", "x&&" + name + "#",
                   "&" + name.upper()]
    for n in range(0, 0x110100):
        if html.unescape("&#%d;" % n) != (chr(n) if n < 0x110000 else ""):
            inputs += ["&#%d;" % n, "&#x%X" % n, "&#X%x;z" % n]
    inputs += ["&", "&#", "&#;", "&#x;", "&#xg;", "&#0x41;", "&#65abc",
               "&#99999999999999999999;", "&" + "a" * 40 + ";",
               "&amp;amp;", "&ampamp", "& amp;", "&lt\r;", "&AMP;"]
    return [[text, html.unescape(text)] for text in inputs]


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "encode":
        tokenizer = Tokenizer(args[0])
        texts = [bytes.fromhex(h).decode("utf-8", errors="replace")
                 for h in json.load(sys.stdin)]
        result = [tokenizer.encode_for_model(t, int(args[1])) for t in texts]
    elif command == "decode":
        tokenizer = Tokenizer(args[0])
        result = [tokenizer.decode(ids) for ids in json.load(sys.stdin)]
    elif command == "classes":
        result = classes()
    elif command == "unescape":
        result = unescape_cases()
    else:
        sys.exit("unknown command " + command)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
