"""Calibrate the consent checks on real speech (LibriSpeech train-clean-100) and report them.

    python -m scaiecho_node.calibrate_consent [--data /work/shared/data] [--readers 80]
                                             [--out .bench/latest.json]

Protocol (one utterance per reader, so each utterance is split at its middle):

- voice: the first half is the reference, the second half the "consent". Genuine = a reader's
  consent against their own reference; another reader = every other reader's consent against
  that reference (all pairs). Scored exactly as intake scores it (node embeddings, cosine,
  :func:`scaiecho.domain.consent_checks.check_voice`).
- text: LibriSpeech ships no transcripts here, so the "consent text" a reader claims is what the
  node's ASR heard in the *whole* utterance, restricted to the words timed in the second half;
  the consent recording is the second half transcribed on its own (so boundary words, context
  and decoding differ, as when a person reads a text aloud). Another text = the same consent
  recording checked against another reader's claimed text (all pairs). This measures the ASR's
  self-consistency plus the normaliser, not its absolute error: the committed threshold keeps
  a wide margin under the genuine scores for that reason (tests/fixtures consent clips, with
  their real LibriSpeech transcripts, are checked in tests/node/test_consent_checks_model.py).
  Each recording is transcribed as intake does it: in Whisper's short window first (recordings
  up to 9 s), and again in the full window when that text fails the check; the keys report how
  often genuine consents needed the second pass and what each window cost.
- duplicate voice: each reader's first half is "enrolled"; each second half is a new enrollment.
  A false accept (= a wrong 409) is another reader's enrolled voice at or over the threshold;
  a false reject (= a duplicate not caught) is the reader's own voice under it.

Rates are printed and merged into ``--out`` as flat ``consent_*`` keys (``make bench`` runs it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_DATA = Path("/work/shared/data")
LIBRISPEECH = "librispeech-train-clean-100"
MIN_CLAIMED_WORDS = 5


@dataclasses.dataclass
class Reader:
    reader: str
    reference: np.ndarray  # embedding of the first half
    consent: np.ndarray  # embedding of the second half
    claimed: str  # words heard in the whole utterance, timed in the second half
    heard: str  # the second half transcribed on its own, full window
    heard_short: str  # ... and in the short window (the same for a half over 9 s)
    seconds_full: float  # what each transcription took
    seconds_short: float


def measure(engine: Any, data: Path, readers: int) -> list[Reader]:
    from scaiecho.audio.decode import decode_audio

    paths = sorted((data / LIBRISPEECH).glob("*.flac"))
    step = max(1, len(paths) // readers) if readers else 1
    out = []
    for path in paths[::step][: readers or None]:
        audio = decode_audio(path.read_bytes())
        half = len(audio.samples) // 2
        first = dataclasses.replace(audio, samples=audio.samples[:half])
        second = dataclasses.replace(audio, samples=audio.samples[half:])
        cut_s = half / audio.sample_rate
        whole = engine.transcribe(audio, "en")
        claimed = " ".join(w.word.strip() for s in whole.segments for w in s.words if w.start >= cut_s)
        # as intake asks: text only, in the short window, then the full one if the text fails
        t0 = time.perf_counter()
        heard = _text(engine.transcribe(second, "en", word_timestamps=False, short_window=False))
        t1 = time.perf_counter()
        heard_short = _text(engine.transcribe(second, "en", word_timestamps=False, short_window=True))
        t2 = time.perf_counter()
        out.append(Reader(path.name.split("-")[0], np.asarray(engine.embed(first).embedding),
                          np.asarray(engine.embed(second).embedding), claimed, heard, heard_short,
                          t1 - t0, t2 - t1))
        print(f"{len(out)} {path.name}", file=sys.stderr, flush=True)
    return out


def _text(result: Any) -> str:
    return " ".join(s.text.strip() for s in result.segments)


def rates(readers: list[Reader], voice_threshold: float, text_threshold: float,
          duplicate_threshold: float) -> dict[str, Any]:
    from scaiecho.domain.consent_checks import coverage, words
    from scaiecho.domain.identification import l2_normalise

    ref = l2_normalise(np.stack([r.reference for r in readers]))
    con = l2_normalise(np.stack([r.consent for r in readers]))
    cos = con @ ref.T  # (consent i, reference j)
    n = len(readers)
    off = ~np.eye(n, dtype=bool)
    genuine_voice = np.diag(cos)
    other_voice = cos[off]
    # A consent text is a sentence: a "claimed text" of a few words is an artefact of cutting
    # (the whole-utterance ASR timed only a word or two after the middle), not a text trial.
    texted = [r for r in readers if len(words(r.claimed)) >= MIN_CLAIMED_WORDS]
    m = len(texted)

    def as_intake(recording: Reader, claimed: str) -> tuple[float, bool]:
        """(coverage, whether the full window was needed) as intake checks a recording."""
        short = coverage(claimed, recording.heard_short)
        if short >= text_threshold:
            return short, False
        return coverage(claimed, recording.heard), True

    trials = [[as_intake(texted[i], texted[j].claimed) for j in range(m)] for i in range(m)]
    text = np.array([[c for c, _ in row] for row in trials])  # (recording i, claimed text of j)
    retried = np.array([[r for _, r in row] for row in trials])
    genuine_text = np.diag(text)
    other_text = text[~np.eye(m, dtype=bool)]
    best_other = np.where(off, cos, -np.inf).max(axis=1)  # best enrolled voice that is not theirs
    return {
        "consent_readers": n,  # genuine voice trials; other-reader pairs: n(n-1)
        "consent_other_pairs": n * (n - 1),
        "consent_text_readers": m,  # readers with a claimed text of 5+ words; other texts: m(m-1)
        "consent_voice_threshold": voice_threshold,
        "consent_voice_false_reject_rate": float(np.mean(genuine_voice < voice_threshold)),
        "consent_voice_false_accept_rate": float(np.mean(other_voice >= voice_threshold)),
        "consent_voice_genuine_cosine_p05": float(np.percentile(genuine_voice, 5)),
        "consent_voice_other_cosine_p99": float(np.percentile(other_voice, 99)),
        "consent_text_threshold": text_threshold,
        "consent_text_false_reject_rate": float(np.mean(genuine_text < text_threshold)),
        "consent_text_false_accept_rate": float(np.mean(other_text >= text_threshold)),
        "consent_text_genuine_coverage_p05": float(np.percentile(genuine_text, 5)),
        "consent_text_genuine_coverage_min": float(genuine_text.min()),
        "consent_text_other_coverage_max": float(other_text.max()),
        "consent_text_genuine_full_window_retry_rate": float(np.mean(np.diag(retried))),
        "consent_transcribe_s_full_window": round(float(np.mean([r.seconds_full for r in readers])), 3),
        "consent_transcribe_s_short_window": round(float(np.mean([r.seconds_short for r in readers])), 3),
        "duplicate_voice_threshold": duplicate_threshold,
        "duplicate_voice_false_accept_rate": float(np.mean(best_other >= duplicate_threshold)),
        "duplicate_voice_false_reject_rate": float(np.mean(genuine_voice < duplicate_threshold)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaiecho_node.calibrate_consent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--readers", type=int, default=80,
                        help="readers to use, spread over the set (0 = all)")
    parser.add_argument("--cache", type=Path, default=Path(".bench/consent_trials.json"))
    parser.add_argument("--out", type=Path, default=None, help="merge the keys into this bench file")
    args = parser.parse_args(argv)
    if not (args.data / LIBRISPEECH).is_dir():
        print(f"{args.data / LIBRISPEECH} not found", file=sys.stderr)
        return 2

    from scaiecho.settings import get_settings

    settings = get_settings()
    policy = settings.consent_policy_for("")
    readers = _cached(args.cache, args.readers)
    if readers is None:
        from scaiecho_node.engine import Engine
        from scaiecho_node.settings import NodeSettings

        started = time.perf_counter()
        engine = Engine(NodeSettings.from_env(model_dir=args.model_dir))
        readers = measure(engine, args.data, args.readers)
        print(f"measured {len(readers)} readers in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        _store(args.cache, args.readers, readers)
    keys = rates(readers, policy.voice_threshold, policy.text_min_coverage,
                 policy.duplicate_voice_threshold)
    print(json.dumps(keys, indent=2))
    if args.out is not None:
        from scaiecho.local.bench import merge_results

        merge_results(args.out, keys)
    return 0


def _cached(path: Path, count: int) -> list[Reader] | None:
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if data.get("readers_requested") != count or data.get("version") != 2:
        return None
    return [Reader(r["reader"], np.asarray(r["reference"]), np.asarray(r["consent"]), r["claimed"],
                   r["heard"], r["heard_short"], r["seconds_full"], r["seconds_short"])
            for r in data["readers"]]


def _store(path: Path, count: int, readers: list[Reader]) -> None:
    # Embeddings of public LibriSpeech readers (dev data), cached so thresholds can be re-tried.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 2, "readers_requested": count, "readers": [
        {"reader": r.reader, "reference": r.reference.tolist(), "consent": r.consent.tolist(),
         "claimed": r.claimed, "heard": r.heard, "heard_short": r.heard_short,
         "seconds_full": r.seconds_full, "seconds_short": r.seconds_short} for r in readers]}))


if __name__ == "__main__":
    sys.exit(main())
