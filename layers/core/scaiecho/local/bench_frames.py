"""What one 200 ms audio frame costs the API, by how much of the utterance is already pending.

    python -m scaiecho.local.bench_frames [--out .bench/latest.json]

A stream's work per frame must follow the new audio, not the utterance so far (issue #19: the
session row used to carry the pending audio, up to 256 KB read and rewritten every frame).
This drives the real frame handler over in-process moto provisioned from template.yaml, with 7.6
s of real speech and no pause long enough to end the utterance, so nothing reaches a node: the
median time of frames 1-5 (under 1 s pending) against frames 33-37 (6-7 s pending). A ratio near
1 is the goal; make bench-load runs it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

from scaiecho.local.bench import SPEECH, merge_results, print_results

FRAME_BYTES = 6400  # 200 ms of 16 kHz int16
SESSIONS = 10


class _Discard:
    def send(self, connection_id: str, frame: dict[str, Any]) -> bool:
        return True

    def close(self, connection_id: str) -> None:
        pass


def bench_frames() -> dict[str, Any]:
    import boto3
    import soundfile as sf
    from moto import mock_aws

    from scaiecho.local import moto_patches
    from scaiecho.local.provision import provision
    from scaiecho.local.stack import project_root

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                       "SCAIECHO_WORKFLOW_SYNC_API": "false",
                       "SCAIECHO_STREAM_ENDPOINT_SILENCE_S": "5"})  # one utterance, never cut
    os.environ.pop("AWS_ENDPOINT_URL", None)
    moto_patches.apply()
    with mock_aws(config=moto_patches.MOTO_CONFIG):  # type: ignore[call-overload]  # a dict, not moto's TypedDict
        provisioned = provision(boto3.Session(region_name="us-east-1"), project_root() / "template.yaml")
        os.environ.update(provisioned.environment)
        from scaiecho.adapters.aws import reset_clients
        from scaiecho.settings import get_settings

        get_settings.cache_clear()
        reset_clients()
        from scaiecho.adapters.connections import ConnectionStore, StreamSession
        from scaiecho.audio.stream import PcmState, to_record
        from scaiecho.services.streaming import StreamSessionHandler

        speech = sf.read(SPEECH / "speaker_f_103.flac", dtype="int16")[0][: int(7.6 * 16_000)]
        pcm = speech.astype("<i2").tobytes()
        handler, store = StreamSessionHandler(replies=_Discard()), ConnectionStore()
        per_frame: dict[int, list[float]] = {}
        for n in range(SESSIONS):
            cid = f"bench-{n}"
            session = store.create(StreamSession(connection_id=cid, tenant_id="bench", key_id="k", scopes=""))
            session.status, session.backend, session.params = "open", "A", {"diarize": False}
            session.pcm, session.pcm_bytes = to_record(PcmState.start("audio/pcm", 16_000))
            session.opened_at = session.last_activity = time.time()
            store.save(session)
            for i in range(0, len(pcm), FRAME_BYTES):
                started = time.perf_counter()
                handler.handle(cid, pcm[i:i + FRAME_BYTES], binary=True)
                per_frame.setdefault(i // FRAME_BYTES, []).append(time.perf_counter() - started)
    get_settings.cache_clear()
    early = statistics.median(t for k in range(1, 6) for t in per_frame[k])
    late = statistics.median(t for k in range(33, 38) for t in per_frame[k])
    return {"stream_frame_ms_pending_under_1s": round(early * 1e3, 2),
            "stream_frame_ms_pending_6_7s": round(late * 1e3, 2),
            "stream_frame_cost_ratio_6s_to_1s": round(late / early, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scaiecho.local.bench_frames", description=__doc__)
    parser.add_argument("--out", default=".bench/latest.json")
    args = parser.parse_args()
    results = bench_frames()
    merge_results(Path(args.out), results)
    print_results("stream frame cost (API side, in-process moto)", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
