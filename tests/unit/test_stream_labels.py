"""Session labels for streamed utterances (services/stream_labels.py): enrolled matches keep their
id, other voices get per-session clusters, deltas are numbered after the session's counter."""

from __future__ import annotations

import numpy as np

from scaiecho.adapters.connections import StreamSession
from scaiecho.services.stream_labels import label
from scaiecho.services.stream_recognition import PendingUtterance, Recognised


def heard(start_s: float, vec: list[float] | None, **match: object) -> Recognised:
    utt = PendingUtterance(b"", int(start_s * 16000), int((start_s + 1) * 16000))
    emb = None if vec is None else np.asarray(vec) / np.linalg.norm(vec)
    return Recognised(utt, "words", emb, **match)  # type: ignore[arg-type]


def test_unknown_voices_get_session_clusters_and_matches_keep_their_id() -> None:
    session = StreamSession(connection_id="c", tenant_id="t", key_id="k", scopes="", seq=5)
    deltas = label(session, [
        heard(0, [1, 0, 0]),
        heard(1, [0, 1, 0], speaker_id="spk-alice", speaker_name="Alice", score=0.9),
        heard(2, [0, 0, 1]),
        heard(3, [0.99, 0.05, 0]),
        heard(4, None),
    ])
    assert [seq for seq, _ in deltas] == [5, 6, 7, 8, 9]
    labels = [d.speaker_label for _, d in deltas]
    assert labels == ["spk_0", "spk-alice", "spk_1", "spk_0", None]
    assert deltas[1][1].speaker_name == "Alice" and deltas[0][1].speaker_name is None
    assert deltas[2][1].start == 2.0 and deltas[2][1].end == 3.0
    assert session.seq == 10 and session.cluster_counts == [2, 1]
    assert session.centroids is not None and session.centroids.shape == (2, 3)


def test_a_name_is_never_given_without_a_match() -> None:
    session = StreamSession(connection_id="c", tenant_id="t", key_id="k", scopes="")
    [(_, delta)] = label(session, [heard(0, [1, 0], speaker_name="stale")])
    assert delta.speaker_label == "spk_0" and delta.speaker_name is None
