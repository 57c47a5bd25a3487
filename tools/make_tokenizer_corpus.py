#!/usr/bin/env python3
"""A seeded random corpus of class-name-like strings with the ids of OpenAI's CLIP tokenizer.

The reference is OpenAI's `clip/simple_tokenizer.py` under the pinned ftfy: `clip` itself is
not on PyPI, so its clean-up is written out here exactly as it is there (`ftfy.fix_text`,
`html.unescape` twice, `strip`, `regex.sub(r"\\s+", " ")`, `strip`, `lower`, the `regex` word
pattern) and the byte-level BPE and vocabulary are open_clip 3.3.0's `SimpleTokenizer`, the
same algorithm and merges (`make_tokenizer_fixtures.original_tokenizer` restores OpenAI's
special-token names). Every string is also checked against open_clip's own encode.

Kinds of strings: mojibake of words in many languages (UTF-8 read as Latin-1, Windows-1250/
1251/1252/1253/1254/1257, ISO-8859-2, MacRoman, CP437, twice, with A0 turned into a space,
with lost bytes), mojibake inside correct text, accented capitals followed by a space, HTML
entities, mixed scripts, emoji sequences, combining marks, whitespace and control kinds,
ligatures, full-width forms, curly quotes, terminal escapes, random code points.

Usage: python tools/make_tokenizer_corpus.py SEED COUNT OUT.json
"""
import html
import html.entities
import json
import os
import random
import sys

import ftfy
import regex

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_fixtures import load_reference_module, original_tokenizer  # noqa: E402

CONTEXT_LENGTH = 77

WORDS = [
    "café", "crème brûlée", "naïve", "façade", "jalapeño", "señor", "über", "straße", "Ærø", "smørrebrød",
    "Å i Lofoten", "MAÇÃ VERDE", "IRMÃ E IRMÃO", "Île", "ÉCOLE", "Ñandú", "pão", "coração", "ação",
    "İstanbul", "ılık", "şehir", "çiçek", "ğ", "český", "Dvořák", "Łódź", "żółw", "Šibenik", "ľad",
    "Ελληνικά", "γάτα", "ΟΔΟΣ", "кошка", "Привет мир", "Ёж", "їжак", "ґанок", "עברית", "חתול",
    "العربية", "قطة", "हिन्दी", "बिल्ली", "தமிழ்", "ไทย", "漢字", "猫の写真", "一只猫", "고양이", "한국어",
    "ｆｕｌｌ", "ＡＢＣ", "ｶﾀｶﾅ", "½ cup", "€10", "£5", "¥20", "©2024", "°C", "µm", "±3", "×2",
    "“quoted”", "it’s", "dog’s toy", "—", "…", "•", "™", "Øresund", "Ðakovo", "Þórr", "ÿ",
    "😀", "👍🏽", "👨‍👩‍👧", "🏳️‍🌈", "🇯🇵", "1️⃣", "🐈‍⬛", "ﬁsh", "ﬂower", "Ĳssel",
]
CAPITALS = [chr(c) for c in range(0xC0, 0x17F) if chr(c).isupper()] + list("ΑΒΓΔΈΪΫЀЁЂЃЄЅІЇ")
ENCODINGS = ["latin-1", "sloppy-windows-1252", "sloppy-windows-1251", "sloppy-windows-1250",
             "sloppy-windows-1253", "sloppy-windows-1254", "sloppy-windows-1257", "iso-8859-2",
             "macroman", "cp437", "windows-1252"]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u2003", "\u3000", "\u2028", "\u0085",
          "\u200b", "\u180e", "\u001c", "\u000b", "\u000c", "\u202f"]
MARKS = ["\u0301", "\u0300", "\u0308", "\u0303", "\u0327", "\u030c", "\u0345", "\u20e3", "\ufe0f",
         "\u200d", "\U0001f3fb", "\u0651", "\u093c", "\u3099"]
ENTITY_NAMES = sorted(html.entities.html5)
EMOJI = ["😀", "🐱", "🐕", "👩‍💻", "🧑🏿‍🚀", "❤️", "☕", "🇫🇷", "🏴‍☠️", "✔", "🤷‍♀️"]
SCRIPT_RANGES = [(0x41, 0x7A), (0xC0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF),
                 (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x3040, 0x30FF),
                 (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0xFF00, 0xFFEF), (0x2000, 0x206F), (0x2100, 0x22FF),
                 (0x1F300, 0x1F6FF), (0x80, 0xBF), (0x1D400, 0x1D4FF), (0x10000, 0x100FF), (0x2E80, 0x2FDF)]


def random_char(rng):
    lo, hi = rng.choice(SCRIPT_RANGES)
    while True:
        c = rng.randint(lo, hi)
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


def word(rng):
    if rng.random() < 0.6:
        return rng.choice(WORDS)
    return "".join(random_char(rng) for _ in range(rng.randint(1, 6)))


def mojibake(rng, text):
    for _ in range(2 if rng.random() < 0.15 else 1):
        raw = text.encode("utf-8")
        encoding = rng.choice(ENCODINGS)
        text = raw.decode(encoding, errors="replace")
    if rng.random() < 0.2:
        text = text.replace("\u00a0", " ")
    if rng.random() < 0.1 and len(text) > 2:
        i = rng.randrange(len(text))
        text = text[:i] + rng.choice(["\ufffd", "?", ""]) + text[i + 1:]
    return text


def entity(rng):
    r = rng.random()
    if r < 0.5:
        name = rng.choice(ENTITY_NAMES)
        if rng.random() < 0.2:
            name = name.upper()
        return "&" + name
    if r < 0.75:
        return f"&#{rng.choice([39, 128, 150, 233, 0, 13, 65533, 128512, 1114112, 55296, rng.randint(1, 0x2FFFF)])};"
    return f"&#x{rng.randint(1, 0x1FFFF):X}" + rng.choice([";", "", " "])


def piece(rng):
    kind = rng.randrange(11)
    if kind == 0:
        return mojibake(rng, word(rng))
    if kind == 1:
        return rng.choice(CAPITALS) + rng.choice([" ", "  ", " " + word(rng), "\n", ""])
    if kind == 2:
        return entity(rng)
    if kind == 3:
        return word(rng) + rng.choice(MARKS)
    if kind == 4:
        return rng.choice(MARKS) + word(rng)
    if kind == 5:
        return rng.choice(EMOJI)
    if kind == 6:
        return rng.choice(["\x1b[1m", "\x1b[0m", "\x07", "\ufeff", "\u206a", "\x00", "\x7f", "\ufffc", "<", "'s", "'LL"])
    if kind == 7:
        return rng.choice(["ﬀ", "ﬃ", "ǆ", "Ǉ", "ŉ", "‘", "’", "“", "”", "‚", "„", "‹", "ʼ", "ｑ", "ﾟ", "〜"])
    if kind == 8:
        return mojibake(rng, rng.choice(CAPITALS) + rng.choice([" ", "a", "\u00a0", "", "!"]))
    return word(rng)


def make_text(rng):
    parts = [piece(rng) for _ in range(rng.randint(1, 4))]
    out = parts[0]
    for p in parts[1:]:
        out += rng.choice(SPACES if rng.random() < 0.5 else ["", " "]) + p
    return out[:60]


def openai_clean(text):
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text))
    text = text.strip()
    text = regex.sub(r"\s+", " ", text)
    return text.strip().lower()


def reference_ids(tok, text):
    ids = [tok.sot_token_id]
    for token in regex.findall(tok.pat, openai_clean(text)):
        if token in ("<|startoftext|>", "<|endoftext|>"):
            ids.append(tok.encoder[token])
            continue
        token = "".join(tok.byte_encoder[b] for b in token.encode("utf-8"))
        ids.extend(tok.encoder[t] for t in tok.bpe(token).split(" "))
    ids.append(tok.eot_token_id)
    if len(ids) > CONTEXT_LENGTH:
        ids = ids[:CONTEXT_LENGTH]
        ids[-1] = tok.eot_token_id
    return ids


def main():
    seed, count, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    module = load_reference_module()
    tok = original_tokenizer(module)
    rng = random.Random(seed)
    texts, seen = [], set()
    while len(texts) < count:
        text = make_text(rng)
        if text not in seen and all(not 0xD800 <= ord(c) <= 0xDFFF for c in text):
            seen.add(text)
            texts.append(text)
    cases, open_clip_differs = [], 0
    open_clip_tokenizer = module.SimpleTokenizer()
    for text in texts:
        ids = reference_ids(tok, text)
        if "<|" not in text:
            padded = open_clip_tokenizer(text, context_length=CONTEXT_LENGTH)[0].tolist()
            open_clip_differs += padded[: len(ids)] != ids
        cases.append({"text": text, "ids": ids})
    with open(out, "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=True) for c in cases) + "\n]\n")
    changed = sum(openai_clean(t) != t.lower().strip() for t in texts)
    print(f"seed {seed}: {len(cases)} strings ({changed} changed by the clean-up beyond lower/strip), "
          f"open_clip's encode differs from OpenAI's on {open_clip_differs}; wrote {out}")


if __name__ == "__main__":
    main()
