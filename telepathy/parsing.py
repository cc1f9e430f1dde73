"""Turn generated text into predictions: label words, GSM8K numbers and passkey codes.

method.md §4 and pitfalls 8/9: one strict parser (first label, in fixed order, found as a whole
word; else INVALID) decides correctness; the original gold-substring rule is kept only as the
`accuracy_lenient` reproduction metric, and the camera-ready code's first-match substring rule
as `accuracy_first_match` (method.md §4, the "first match" row). A single-letter label
(CommonsenseQA's A-E) must stand alone as an answer, since "a" is also an English word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

INVALID = "INVALID"
# What result files record as the parser of label tasks.
PARSER_DESCRIPTION = (
    "first label word (fixed order) matched as a whole word, a single-letter label only as a "
    "standalone answer, else INVALID"
)

# "Whole word" = not touching a letter, digit or underscore. \w is Unicode-aware for str
# patterns, so "épositive" is one word too.
_WORD_BEFORE = r"(?<!\w)"
_WORD_AFTER = r"(?!\w)"

# A single-letter label counts only as an answer, never as a word in a sentence: as a whole word
# CommonsenseQA's "A" would match the article in "a river bank". The letter must be followed by
# the end of the text or of a line, or by punctuation ("A." and "A)" are answers, "A river" and
# "e.g." are not), and either
# - open the output, after any non-word characters: "B", "B.", "B) river bank", "**B**";
# - or follow "answer", "choice" or "option", with an optional "is" and ":": "Answer: B",
#   "The answer is (B).", "The best choice is B";
# or be in brackets anywhere: "(B)", "[B]".
# "The answer is B because ..." stays INVALID: the strict parser does not guess.
_LETTER_END = r"(?=\s*$|\s*\n|\s*[,:;!?)\]*\"]|\.(?!\w))"


def _letter_regex(letter: str) -> str:
    letter = re.escape(letter)
    return "|".join(
        (
            rf"\A\W*{letter}{_LETTER_END}",
            rf"(?<!\w)(?:answer|choice|option)(?:\s+is)?\s*:?\s*[(\[]?{letter}{_LETTER_END}",
            rf"[(\[]\s*{letter}\s*[)\]]",
        )
    )


def _surface_regex(word: str) -> str:
    """The pattern of one surface form: a standalone answer for one letter, else a whole word."""
    if len(word) == 1 and word.isalpha():
        return _letter_regex(word)
    return _WORD_BEFORE + re.escape(word) + _WORD_AFTER


@lru_cache(maxsize=256)
def _label_patterns(
    label_words: tuple[str, ...], aliases: tuple[tuple[str, tuple[str, ...]], ...]
) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Compile one pattern per (label, surface form), in scan order (see _surface_regex)."""
    if not label_words:
        raise ValueError("label_words is empty; expected at least one label word")
    alias_map = dict(aliases)
    unknown = sorted(set(alias_map) - set(label_words))
    if unknown:
        raise ValueError(
            f"aliases given for {unknown}, which are not in label_words {list(label_words)}"
        )
    patterns = []
    for label in label_words:
        for word in (label, *alias_map.get(label, ())):
            if not word.strip():
                raise ValueError(
                    f"label {label!r} has an empty or blank surface form {word!r}; an empty "
                    "word would match every output"
                )
            patterns.append((label, re.compile(_surface_regex(word.strip()), re.IGNORECASE)))
    return tuple(patterns)


def parse_label(
    text: str,
    label_words: Sequence[str],
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> str | None:
    """Return the first label (in `label_words` order) found in `text` as a whole word, else None.

    For each label its own word is tried first, then its aliases; matching ignores case.
    A single-letter label or alias must stand alone as an answer ("B", "(B)", "Answer: B"), not
    be a word in a sentence ("a river bank"). The returned value is the label as spelled in
    `label_words`.
    """
    frozen_aliases = tuple(
        (label, tuple(words)) for label, words in sorted((aliases or {}).items())
    )
    for label, pattern in _label_patterns(tuple(label_words), frozen_aliases):
        if pattern.search(text):
            return label
    return None


def is_lenient_correct(text: str, gold_word: str, aliases: Sequence[str] = ()) -> bool:
    """Original rule: the lower-cased gold word (or an alias) is a substring of the output."""
    words = (gold_word, *aliases)
    if any(not word for word in words):
        raise ValueError(
            f"empty gold word or alias in {list(words)!r}; an empty substring matches everything"
        )
    lowered = text.lower()
    return any(word.lower() in lowered for word in words)


def first_match_label(text: str, label_words: Sequence[str]) -> str | None:
    """Era D's rule (`run_complete_evaluation.py:977-983`; Dec zero-shot, few-shot and LoRA too):
    the first label, in the fixed list order, that is a substring of the lower-cased output;
    None when no label occurs. No aliases and no word boundaries: "Sci/Tech" names no AG News
    label, "worldwide" is world, and "positive negative" is negative (it comes first)."""
    if not label_words or any(not word for word in label_words):
        raise ValueError(f"label_words {list(label_words)!r} must be non-empty strings")
    lowered = text.lower()
    for word in label_words:
        if word.lower() in lowered:
            return word
    return None


# A number as written: optional sign (not the hyphen of a range such as "5-10"), optional "$",
# either comma-grouped thousands or plain digits, optional decimals.
_NUMBER = re.compile(r"(?:(?<![\w.])-)?\$?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?")
_HASHES = "####"
# "answer is" (the original rule) and "answer:", as in "Final answer: 7. Check: 3 + 4 = 7".
_ANSWER_IS = re.compile(r"answer(?:\s+is\b|\s*:)", re.IGNORECASE)
# LaTeX's final-answer box, which instruction-tuned models write instead of "####".
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_UNICODE_MINUS = "\u2212"


def _normalise_number(raw: str) -> str:
    return raw.replace("$", "").replace(",", "")


def extract_number(text: str) -> str | None:
    """GSM8K rule: the number after '####', else in the last \\boxed{}, else after 'answer is' /
    'answer:', else the last number. Commas and '$' are dropped; U+2212 reads as a minus."""
    text = text.replace(_UNICODE_MINUS, "-")
    if _HASHES in text:
        tail = text.rsplit(_HASHES, 1)[1]
        match = _NUMBER.search(tail)
        if match:
            return _normalise_number(match.group())
    boxed = _BOXED.findall(text)
    if boxed:
        match = _NUMBER.search(boxed[-1])
        if match:
            return _normalise_number(match.group())
    answer_is = list(_ANSWER_IS.finditer(text))
    if answer_is:
        match = _NUMBER.search(text, answer_is[-1].end())
        if match:
            return _normalise_number(match.group())
    numbers = _NUMBER.findall(text)
    return _normalise_number(numbers[-1]) if numbers else None


def passkey_scores(text: str, code: str) -> tuple[bool, float]:
    """Return (exact match, digit accuracy) of a generated passkey against `code`.

    Exact: `code` is a substring of `text`, or the digits of `text` are exactly `code`.
    Digit accuracy: positional matches of the first len(code) digits in `text`, over len(code).
    """
    if not code or not code.isdigit():
        raise ValueError(f"passkey code {code!r} must be a non-empty string of digits")
    digits = "".join(ch for ch in text if ch.isdigit() and ch.isascii())
    exact = code in text or digits == code
    hits = sum(got == want for got, want in zip(digits[: len(code)], code, strict=False))
    return exact, hits / len(code)
