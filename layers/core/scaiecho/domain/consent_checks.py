"""Consent checks (pure): is the consent recording the reference's voice, and did it say the text?

Voice: the cosine between the consent's and the reference's embeddings (same node, same model),
mapped to [0, 1] by the identification curve (:func:`scaiecho.domain.identification.score_from_cosine`),
so a score of 0.5 is exactly the threshold. Text: the share of the consent text's words that the
speech-to-text heard, in order, after both sides are normalised (case, punctuation, digits spelt
out as words, the speaker's own name left out: ASR cannot be expected to spell names).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import StrEnum
from typing import Any

import numpy as np

from scaiecho.domain.identification import cosine_matrix, score_from_cosine


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ConsentPolicy:
    """Thresholds of one tenant (settings, with that tenant's overrides applied)."""

    voice_threshold: float  # cosine, consent vs reference
    voice_slope: float
    text_min_coverage: float  # share of the consent text's words heard, in [0, 1]
    duplicate_voice_threshold: float  # cosine, new reference vs an enrolled voiceprint


@dataclass(frozen=True)
class VoiceCheck:
    status: CheckStatus
    cosine: float
    score: float
    threshold: float

    def serialize(self) -> dict[str, Any]:
        """As error details, consent records and idempotency records keep it."""
        return {"status": self.status.value, "score": round(self.score, 4),
                "cosine": round(self.cosine, 4), "threshold": self.threshold}

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> VoiceCheck:
        return cls(CheckStatus(doc["status"]), float(doc["cosine"]), float(doc["score"]),
                   float(doc["threshold"]))


@dataclass(frozen=True)
class TextCheck:
    status: CheckStatus
    coverage: float | None  # None when skipped
    heard: str | None
    threshold: float
    reason: str | None = None  # why it was skipped

    def serialize(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.value,
                               "score": None if self.coverage is None else round(self.coverage, 4),
                               "heard": self.heard, "threshold": self.threshold}
        if self.reason:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> TextCheck:
        score = doc.get("score")
        return cls(CheckStatus(doc["status"]), None if score is None else float(score),
                   doc.get("heard"), float(doc["threshold"]), doc.get("reason"))


def check_voice(reference: np.ndarray, consent: np.ndarray, policy: ConsentPolicy) -> VoiceCheck:
    cosine = float(cosine_matrix(np.asarray(reference), np.asarray(consent))[0, 0])
    score = float(score_from_cosine(cosine, threshold=policy.voice_threshold, slope=policy.voice_slope))
    status = CheckStatus.PASSED if cosine >= policy.voice_threshold else CheckStatus.FAILED
    return VoiceCheck(status, cosine, score, policy.voice_threshold)


def check_text(expected: str, heard: str, *, full_name: str, policy: ConsentPolicy) -> TextCheck:
    cov = coverage(expected, heard, full_name=full_name)
    status = CheckStatus.PASSED if cov >= policy.text_min_coverage else CheckStatus.FAILED
    return TextCheck(status, cov, heard.strip(), policy.text_min_coverage)


def skipped_text(reason: str, policy: ConsentPolicy) -> TextCheck:
    return TextCheck(CheckStatus.SKIPPED, None, None, policy.text_min_coverage, reason)


# ------------------------------------------------------------------------------ text
_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_ORDINAL_SUFFIX = re.compile(r"^(\d+)(st|nd|rd|th)$")
_IRREGULAR_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                       "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def number_words(n: int) -> list[str]:
    """Cardinal English words for a non-negative integer (what an ASR hears for "2026")."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    for value, name in _SCALES:
        if n >= value:
            head = [*number_words(n // value), name]
            return head + (number_words(n % value) if n % value else [])
    return []  # unreachable


def _is_year(n: int) -> bool:
    return 1100 <= n <= 2099 and n % 100 != 0 and not 2000 <= n < 2010


def year_words(n: int) -> list[str]:
    """How a year is read aloud and how ASR writes it out: 2026 → twenty twenty six."""
    tail = n % 100
    return [*number_words(n // 100), *(["oh", _ONES[tail]] if tail < 10 else number_words(tail))]


def _ordinal(words: list[str]) -> list[str]:
    last = words[-1]
    if last in _IRREGULAR_ORDINALS:
        return [*words[:-1], _IRREGULAR_ORDINALS[last]]
    if last.endswith("y"):
        return [*words[:-1], last[:-1] + "ieth"]
    return [*words[:-1], last + "th"]


def words(text: str) -> list[str]:
    """Normalised words: NFKC, lower case, apostrophes dropped, other punctuation a separator,
    digits spelt out ("2026" → two thousand twenty six; "3rd" → third)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d)[,.](?=\d{3}\b)", "", text)  # 10,000 → 10000
    text = re.sub("['\u2019`]", "", text)  # straight and typographic apostrophes
    out: list[str] = []
    for token in re.findall(r"[^\W_]+", text):
        ordinal = _ORDINAL_SUFFIX.match(token)
        if ordinal and len(ordinal.group(1)) < 13:
            out += _ordinal(number_words(int(ordinal.group(1))))
        elif token.isdigit() and len(token) == 4 and _is_year(int(token)):
            out += year_words(int(token))
        elif token.isdigit() and len(token) < 13:
            out += number_words(int(token))
        else:
            out.append(token)
    return out


def coverage(expected: str, heard: str, *, full_name: str = "") -> float:
    """Share of ``expected``'s words found in ``heard`` in the same order (longest common
    subsequence of words), the speaker's name left out of both sides. 0.0 when nothing is left
    to check (a consent text that is only the name proves nothing)."""
    name = set(words(full_name))
    want = [w for w in words(expected) if w not in name]
    got = [w for w in words(heard) if w not in name]
    if not want:
        return 0.0
    # ASR and writer split compounds differently ("voice print" / "voiceprint", "scai echo"):
    # join an adjacent pair on either side when the joined word is what the other side has.
    got = _join_compounds(got, set(want))
    want = _join_compounds(want, set(got))
    matcher = SequenceMatcher(a=want, b=got, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    return matched / len(want)


def _join_compounds(tokens: list[str], vocabulary: set[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if i + 1 < len(tokens) and tokens[i] + tokens[i + 1] in vocabulary:
            out.append(tokens[i] + tokens[i + 1])
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return out
