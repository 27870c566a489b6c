"""The bench's word-level speaker attribution metric (optimal label mapping)."""

from scaiecho.local.bench_jobs import word_attribution

SEGMENTS = [
    {"type": "speech", "start_time": 0.0, "end_time": 2.0, "speaker": "SPEAKER_00"},
    {"type": "silence", "start_time": 2.0, "end_time": 3.0, "speaker": None},
    {"type": "speech", "start_time": 3.0, "end_time": 5.0, "speaker": "SPEAKER_01"},
]
REFERENCE = [(0.0, 2.5, "alice"), (2.5, 5.0, "bob")]


def test_labels_are_mapped_to_readers_optimally() -> None:
    words = [(0.1, 0.5), (1.0, 1.5), (3.1, 3.5), (4.0, 4.4)]
    assert word_attribution(words, SEGMENTS, REFERENCE) == (4, 4)
    swapped = [(0.0, 2.5, "bob"), (2.5, 5.0, "alice")]
    assert word_attribution(words, SEGMENTS, swapped) == (4, 4)


def test_wrong_speaker_and_unspoken_words() -> None:
    # The last word is bob's per the reference but the transcript gives it to SPEAKER_00's turn.
    segments = [*SEGMENTS[:2],
                {"type": "speech", "start_time": 3.0, "end_time": 4.0, "speaker": "SPEAKER_01"},
                {"type": "speech", "start_time": 4.0, "end_time": 5.0, "speaker": "SPEAKER_00"}]
    words = [(0.1, 0.5), (3.1, 3.5), (4.2, 4.6), (9.0, 9.5)]  # the last one: nobody speaks
    assert word_attribution(words, segments, REFERENCE) == (2, 3)
