#!/usr/bin/env python3
"""Reference outputs of CLIP's original tokenizer, for the Swift `CLIPTokenizer` tests.

The reference is OpenAI's `simple_tokenizer` as shipped in open_clip (`open_clip/tokenizer.py`),
loaded by file path so that the `open_clip` package itself (which fails to import here) is not
imported. open_clip renamed the special tokens to `<start_of_text>` / `<end_of_text>`; the original
(and the Hugging Face vocab.json) use `<|startoftext|>` / `<|endoftext|>` with the same ids, so the
script restores the original names and pattern and checks that every case without a literal special
token gives the same ids either way.

Writes, under OUT_DIR (default Tests/Fixtures/tokenizer):
  cases.json          [{text, context_length, clean, ids, decoded}] for every case below
The Swift tables of the clean-up come from tools/make_tokenizer_tables.py, the random corpus
from tools/make_tokenizer_corpus.py.

Usage: python tools/make_tokenizer_fixtures.py [OUT_DIR]
"""
import importlib.util
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTEXT_LENGTH = 77


def load_reference_module():
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("open_clip_torch is not installed: run `make tools-env`")
    path = os.path.join(list(spec.submodule_search_locations)[0], "tokenizer.py")
    module_spec = importlib.util.spec_from_file_location("clip_simple_tokenizer", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def original_tokenizer(module):
    """open_clip's SimpleTokenizer with OpenAI's special-token names and pattern restored."""
    import regex

    tok = module.SimpleTokenizer()
    renames = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    for old, new in renames.items():
        tok.encoder[new] = tok.encoder.pop(old)
        tok.decoder[tok.encoder[new]] = new
    tok.cache = {new: new for new in renames.values()}
    tok.pat = regex.compile(
        r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
        regex.IGNORECASE,
    )
    return tok


def encode(tok, text, context_length):
    ids = [tok.sot_token_id] + tok.encode(text) + [tok.eot_token_id]
    if len(ids) > context_length:
        ids = ids[:context_length]
        ids[-1] = tok.eot_token_id
    return ids


LONG_TEXT = (
    "a very long caption that goes on and on describing a photograph of a crowded market square "
    "at dusk, with vendors selling fruit, vegetables, flowers and spices, children running between "
    "the stalls, pigeons on the cobblestones, a musician playing an accordion near the fountain, "
    "and warm lights glowing in the windows of the old houses that line the square on every side. "
    "Later, as the night grows colder, the vendors pack up their carts and the square falls quiet."
)

CASES = [
    "a photo of a cat.",
    "A Photo Of A CAT",
    "",
    "   \t\n  ",
    "\u00a0\u2003\u3000",
    "hello   world\t\tfoo\n\nbar  ",
    # accents, composed and decomposed (NFC makes them equal)
    "caf\u00e9",
    "cafe\u0301",
    "ni\u00f1o, ping\u00fcino, \u00fcber",
    "nin\u0303o, pingu\u0308ino",
    "na\u00efve fa\u00e7ade r\u00e9sum\u00e9 \u00c9COLE",
    "Stra\u00dfe STRASSE",
    # emoji: plain, ZWJ sequences, skin tones, flags, keycaps
    "\U0001f600",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "\U0001f44d\U0001f3fd thumbs up \U0001f44b\U0001f3ff",
    "\U0001f3f3\ufe0f\u200d\U0001f308 flag \U0001f1ef\U0001f1f5 1\ufe0f\u20e3",
    "a \U0001f431 cat \U0001f408\u200d\u2b1b on a mat",
    # scripts
    "\u732b\u306e\u5199\u771f",
    "\u4e00\u53ea\u732b\u7684\u7167\u7247",
    "\uace0\uc591\uc774 \uc0ac\uc9c4",
    "\u0635\u0648\u0631\u0629 \u0642\u0637\u0629",
    "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440",
    "\u039f\u0394\u039f\u03a3 \u03a3\u0391\u03a3 \u0391\u03a3'\u0392",
    "\u0130stanbul",
    "\u0939\u093f\u0928\u094d\u0926\u0940",
    "a\u0345b",
    # punctuation and numbers (digits are one token each)
    "!!! ??? ... --- *** ~~~",
    "wow!!!...?! (really) [yes] {no} <maybe>",
    "123 4567 3.14159 1,000,000",
    "\u00b2\u00b3 \u00bd \u216b \u0663\u0664 \uff11\uff12",
    # HTML entities: Python's html.unescape twice, ftfy's own pass when the line has no '<'
    "&amp; &quot;hi&quot; &#39;x&#39; &lt;tag&gt;",
    "a<b &amp; &rsquo;x",
    "&rsquo;z\nx < y\n&rsquo;w",
    "&amp;rsquo; &amp;amp;amp;",
    "&nbsp;x&nbsp; &copy &copy; &not ok &notit; &copyright",
    "&#128512; &#x1F600; &#0; &#x80; &#1114112; &#xD800; &#12a;",
    "P&EACUTE;REZ &NTILDE; &nTILDE; &AMP; &hellip;&mdash;&ndash;",
    # contractions, lower and upper case
    "it's they're we've i'm you'll he'd don't",
    "IT'S THEY'RE WE'VE I'M YOU'LL HE'D DON'T",
    "'\u017f 'sand ''s 's'd",
    "It\u2019s \u201cquoted\u201d \u2018single\u2019",
    # what ftfy fixes: mojibake, C1 controls, ligatures, width, line breaks, escapes, controls
    "\u00c3\u00a9t\u00c3\u00a9 caf\u00c3\u00a9",
    "The Mona Lisa doesn\u00e2\u20ac\u2122t have eyebrows.",
    "x\u0085y \u0093quoted\u0094",
    "\u00f0\u0178\u02dc\u20ac smile \u00e2\u0153\u201d done",
    "\u00c3\u0083\u00c2\u00a9t\u00c3\u0083\u00c2\u00a9",
    "\u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d text",
    "\u00d0\u0178\u00d1\u20ac\u00d0\u00b8\u00d0\u00b2\u00d0\u00b5\u00d1\u201a",
    "\u00c3\u00bcber stra\u00c3\u0178e \u00c3\u2030COLE, the 1\u00c2\u00bd cup, \u00c3\u00a0 la carte",
    "l'\u00c3\u00a9t\u00c3\u00a9\nsecond line \u00c3\u00b1 \u00c2\u00a35",
    # byte A0 that became a space: "\u00c3 " is "\u00e0 " except before some Portuguese words
    "voil\u00c3 le travail; \u00c3 quele, \u00c3 s vezes, f\u00c3 cil",
    "isto \u00c3\u00a9 \u00c3  toa",
    # mojibake inside an otherwise correct line
    "na\u00efve caf\u00c3\u00a9, \U0001f600 doesn\u00e2\u20ac\u2122t, \u732b \u00c3\u00b1",
    # text that only looks like it could be mojibake stays as it is
    "CAF\u00c9\u201d is great; \u00a35 and \u20ac10 and \u00a520",
    "caf\u00e9\u2019\u201c quoted\u201d \u732b",
    "\ufb01ne \ufb02ow \ufb03 \u0133",
    "\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33 \uff80\uff9e",
    "line1\r\nline2\rline3\u2028line4\u2029line5",
    "\x1b[36mblue\x1b[0m text",
    "ctrl\x00\x07chars\ufeffbom\u206a",
    "zero\u200bwidth joiner\u200dx",
    # special tokens written in the text
    "<|startoftext|>hi<|endoftext|>",
    # BPE on a long word, mixed content
    "supercalifragilisticexpialidocious",
    "The year 2024 \u2014 a r\u00e9sum\u00e9 of 3 cats \U0001f431!",
    # longer than the context: truncated, end token kept last
    LONG_TEXT,
    "\U0001f600" * 90,
    "\u732b\u00e9" * 60,
    "\u732b" * 100,
]

# A few cases with a shorter context, to pin the truncation rule.
SHORT_CONTEXT_CASES = [
    ("a photo of a cat on a mat", 5),
    ("a photo of a cat on a mat", 1),
    ("a photo of a cat", 6),
    ("a photo of a cat", 7),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "Tests/Fixtures/tokenizer")
    os.makedirs(out, exist_ok=True)
    module = load_reference_module()
    reference = module.SimpleTokenizer()
    tok = original_tokenizer(module)

    vocab_path = os.path.join(REPO, "Tests/Fixtures/clip-vocab/vocab.json")
    with open(vocab_path, encoding="utf-8") as f:
        assert json.load(f) == tok.encoder, "committed vocab.json differs from the reference tokenizer"

    cases = []
    for text, context_length in [(t, CONTEXT_LENGTH) for t in CASES] + SHORT_CONTEXT_CASES:
        ids = encode(tok, text, context_length)
        if "<|" not in text:
            padded = reference(text, context_length=context_length)[0].tolist()
            assert padded[: len(ids)] == ids and all(i == 0 for i in padded[len(ids):]), text
        cases.append({
            "text": text,
            "context_length": context_length,
            "clean": module._clean_lower(text),
            "ids": ids,
            "decoded": tok.decode(ids),
        })
    assert len(cases) >= 40
    assert any(len(c["ids"]) == CONTEXT_LENGTH for c in cases)
    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        # One case a line: small diffs when a case is added.
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=True) for c in cases) + "\n]\n")

    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
