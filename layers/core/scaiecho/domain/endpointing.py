"""Utterance endpointing for streamed audio: when has a speaker finished a phrase?

Torch-free and stateless between calls. The buffer is the audio not yet sent to a node plus up
to ``context_s`` of audio before it, so the VAD's noise floor sees some history; its speech runs
come from the platform's energy VAD (:mod:`scaiecho.domain.vad`), over the whole buffer
(:func:`endpoint`) or kept frame by frame by a stream (:func:`endpoint_runs` with
:class:`scaiecho.domain.vad_track.VadTrack`). Speech runs closer together than ``endpoint_silence_s`` form one
utterance; an utterance is complete once ``endpoint_silence_s`` of non-speech follows it (the
VAD already adds a 0.2 s hangover to every run), or at ``flush`` (the client closed). An
utterance longer than ``max_utterance_s`` is cut there, so a monologue without pauses still
yields text and the buffer stays bounded (DynamoDB items are at most 400 KB).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaiecho.domain.vad import HOP_S, detect_speech

RATE = 16_000
HOP = round(HOP_S * RATE)  # the VAD's frame hop


@dataclass(frozen=True)
class EndpointConfig:
    endpoint_silence_s: float = 0.45
    max_utterance_s: float = 8.0
    preroll_s: float = 0.2  # audio kept before an utterance's first speech (onsets)
    context_s: float = 1.0  # already-consumed audio kept for the VAD's noise floor
    min_speech_s: float = 0.25  # shorter "utterances" are clicks and breaths: dropped


@dataclass(frozen=True)
class Utterance:
    start: int  # sample index into the buffer passed in
    end: int
    forced: bool = False  # cut at max_utterance_s, not at a pause


@dataclass(frozen=True)
class Cut:
    utterances: list[Utterance]
    consumed: int  # new consumed index into the buffer passed in
    drop: int  # samples to drop from the buffer's head (consumed context beyond context_s)


def endpoint(samples: np.ndarray, consumed: int, *, flush: bool, cfg: EndpointConfig) -> Cut:
    """Find the complete utterances after ``consumed`` in a 16 kHz mono float buffer."""
    speech = [(round(s * RATE), round(e * RATE)) for s, e in detect_speech(samples, RATE).segments()]
    return endpoint_runs(speech, int(samples.size), consumed, flush=flush, cfg=cfg)


def endpoint_runs(speech: list[tuple[int, int]], n: int, consumed: int, *, flush: bool,
                  cfg: EndpointConfig) -> Cut:
    """:func:`endpoint` from the VAD's speech runs (sample indices) of an ``n``-sample buffer."""
    if n <= consumed:
        return Cut([], consumed, _drop(consumed, cfg))
    silence = round(cfg.endpoint_silence_s * RATE)
    preroll = round(cfg.preroll_s * RATE)
    hop = HOP
    runs = [(max(s, consumed), min(e, n)) for s, e in speech if e > consumed]
    groups: list[list[int]] = []
    for start, end in runs:
        if groups and start - groups[-1][1] < silence:
            groups[-1][1] = end
        else:
            groups.append([start, end])

    utterances: list[Utterance] = []
    new_consumed = consumed
    pending_start: int | None = None
    for start, end in groups:
        complete = flush or end + silence <= n - hop
        if not complete:
            pending_start = start
            break
        if end - start >= round(cfg.min_speech_s * RATE):
            utterances.append(Utterance(max(start - preroll, new_consumed), end))
        new_consumed = end
    if flush:
        new_consumed = n
    elif pending_start is None:
        # no speech in progress: keep only a pre-roll's worth of the trailing silence
        new_consumed = max(new_consumed, n - preroll)
    else:
        new_consumed = max(new_consumed, pending_start - preroll)
        if n - new_consumed >= round(cfg.max_utterance_s * RATE):
            utterances.append(Utterance(new_consumed, n, forced=True))
            new_consumed = n
    return Cut(utterances, new_consumed, _drop(new_consumed, cfg))


def _drop(consumed: int, cfg: EndpointConfig) -> int:
    # whole VAD hops: a stream's VadTrack keeps frames aligned to the buffer's start
    return max(0, consumed - round(cfg.context_s * RATE)) // HOP * HOP
