"""Check the live-utterance speech-to-text window against Whisper's full 30 s window.

    python -m scaiecho_node.asr_window [--data /work/shared/data] [--readers 60]
                                       [--out .bench/latest.json]

Live stream utterances are encoded in a 10 s window (:data:`scaiecho_node.asr.SHORT_WINDOW_S`)
instead of 30 s. This measures what that costs in words and gains in time, on real speech:

- Each LibriSpeech utterance (one per reader, spread over the set) is transcribed whole with word
  timestamps. Its words are the reference (LibriSpeech ships no transcripts here, so this is the
  ASR with full context, not ground truth).
- The utterance is cut at pauses between words into pieces of 1.5-8 s, as the stream endpointer
  cuts them, and each piece is transcribed twice, as a stream utterance: with the 10 s window
  and with the full window (the previous path).
- Reported: word error rate of each against the reference words timed inside the piece, the
  mean time per piece of each, and how often the short window fell back to the full one.

Keys are merged into ``--out`` as ``asr_window_*`` (``make bench`` runs it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path("/work/shared/data")
LIBRISPEECH = "librispeech-train-clean-100"
MIN_PIECE_S, MAX_PIECE_S, MIN_PAUSE_S = 1.5, 8.0, 0.12


@dataclass
class Piece:
    start: float
    end: float
    reference: list[str]


def words_of(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        prev, row[0] = row[:], i
        for j in range(1, len(hyp) + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ref[i - 1] != hyp[j - 1]))
    return row[-1]


def pieces(words: list[Any], duration_s: float) -> list[Piece]:
    """Cut at pauses between words into 1.5-8 s pieces (what the endpointer would send)."""
    out: list[Piece] = []
    start_i = 0
    for i in range(1, len(words) + 1):
        last = i == len(words)
        gap = (words[i].start - words[i - 1].end) if not last else MIN_PAUSE_S
        length = words[i - 1].end - words[start_i].start
        if (gap >= MIN_PAUSE_S and length >= MIN_PIECE_S) or last:
            begin = max(0.0, words[start_i].start - 0.05)
            end = min(duration_s, words[i - 1].end + 0.1)
            if MIN_PIECE_S <= end - begin <= MAX_PIECE_S:
                out.append(Piece(begin, end, [w for x in words[start_i:i] for w in words_of(x.word)]))
            start_i = i
    return out


def measure(transcriber: Any, data: Path, readers: int) -> dict[str, Any]:
    from scaiecho.audio.decode import decode_audio

    paths = sorted((data / LIBRISPEECH).glob("*.flac"))
    step = max(1, len(paths) // readers) if readers else 1
    ref_words = errors_short = errors_full = count = 0
    time_short = time_full = 0.0
    for path in paths[::step][: readers or None]:
        audio = decode_audio(path.read_bytes())
        whole = transcriber.transcribe(audio, "en", word_timestamps=True)
        words = [w for s in whole.segments for w in s.words]
        for piece in pieces(words, audio.duration_s):
            clip = audio.samples[int(piece.start * audio.sample_rate):int(piece.end * audio.sample_rate)]
            part = dataclasses.replace(audio, samples=clip)
            t0 = time.perf_counter()
            short = transcriber.transcribe(part, "en", word_timestamps=False, short_window=True)
            t1 = time.perf_counter()
            full = transcriber.transcribe(part, "en", word_timestamps=False, short_window=False)
            t2 = time.perf_counter()
            time_short, time_full = time_short + t1 - t0, time_full + t2 - t1
            errors_short += edit_distance(piece.reference, words_of(" ".join(s.text for s in short.segments)))
            errors_full += edit_distance(piece.reference, words_of(" ".join(s.text for s in full.segments)))
            ref_words += len(piece.reference)
            count += 1
    fallbacks = transcriber.short_window_fallbacks
    return {
        "asr_window_pieces": count,
        "asr_window_words": ref_words,
        "asr_window_wer_short": round(errors_short / max(1, ref_words), 4),
        "asr_window_wer_full": round(errors_full / max(1, ref_words), 4),
        "asr_window_s_per_piece_short": round(time_short / max(1, count), 3),
        "asr_window_s_per_piece_full": round(time_full / max(1, count), 3),
        "asr_window_speedup": round(time_full / time_short, 2) if time_short else None,
        "asr_window_fallbacks": fallbacks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaiecho_node.asr_window", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--readers", type=int, default=60, help="readers, spread over the set (0 = all)")
    parser.add_argument("--out", type=Path, default=None, help="merge the keys into this bench file")
    args = parser.parse_args(argv)
    if not (args.data / LIBRISPEECH).is_dir():
        print(f"{args.data / LIBRISPEECH} not found", file=sys.stderr)
        return 2
    from scaiecho_node.asr import Transcriber, resolve_asr_model
    from scaiecho_node.settings import NodeSettings

    settings = NodeSettings.from_env(model_dir=args.model_dir)
    transcriber = Transcriber(resolve_asr_model(settings.asr_model, settings.model_dir),
                              num_threads=settings.num_threads)
    keys = measure(transcriber, args.data, args.readers)
    print(json.dumps(keys, indent=2))
    if args.out is not None:
        from scaiecho.local.bench import merge_results

        merge_results(args.out, keys)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
