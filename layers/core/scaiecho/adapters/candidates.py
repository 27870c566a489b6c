"""A tenant's ready speakers and their voiceprints on one node (streaming identification, the
duplicate-voice check).

Voiceprints are KMS-sealed in the warm registry; opening one is a KMS call, so opened vectors
are cached in the process, keyed by the warm row's identity *and* its ``enrolled_at``. The
speaker list and the warm rows are read on every call, so an erased speaker (warm rows deleted,
speaker tombstoned) is never offered again, cache or not; the cache only saves decrypts.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from pynamodb.exceptions import PynamoDBException

from scaiecho.adapters.speakers import SPEAKER_PREFIX
from scaiecho.adapters.tables import SpeakerRow, WarmRow, ensure_bound
from scaiecho.adapters.voiceprints import VoiceprintCipher
from scaiecho.domain.speakers import EnrollmentStatus
from scaiecho.errors import StorageError

_CACHE_SIZE = 2048


@dataclass(frozen=True)
class Voiceprint:
    speaker_id: str
    display_name: str | None
    embedding: np.ndarray  # L2-normalised
    external_id: str | None = None


class TenantVoiceprints:
    _cache: OrderedDict[tuple[str, str, str, str], np.ndarray] = OrderedDict()
    _lock = threading.Lock()

    def __init__(self, cipher: VoiceprintCipher | None = None) -> None:
        self._cipher = cipher or VoiceprintCipher()

    def on_node(self, tenant_id: str, node_id: str, *, min_speech_s: float = 0.0) -> list[Voiceprint]:
        """Every ready, live speaker of the tenant that has a voiceprint from ``node_id`` and at
        least ``min_speech_s`` of enrolled speech (identification passes the tenant's
        ``Settings.identification_min_speech_s``; the duplicate-voice check wants them all)."""
        ensure_bound()
        live_ready = ((SpeakerRow.enrollment_status == EnrollmentStatus.READY.value)
                      & SpeakerRow.tombstoned_at.does_not_exist())
        if min_speech_s > 0:
            live_ready = live_ready & (SpeakerRow.total_speech_s >= min_speech_s)
        try:
            speakers = {
                r.speaker_id: (r.display_name, r.external_id)
                for r in SpeakerRow.query(
                    tenant_id,
                    range_key_condition=SpeakerRow.speaker_id.startswith(SPEAKER_PREFIX),
                    filter_condition=live_ready,
                    attributes_to_get=["tenant_id", "speaker_id", "display_name", "external_id"],
                )
            }
            rows = list(WarmRow.batch_get([(f"{tenant_id}#{sid}", node_id) for sid in speakers])) \
                if speakers else []
        except PynamoDBException as exc:
            raise StorageError("could not read the tenant's voiceprints") from exc
        out = []
        for row in sorted(rows, key=lambda r: r.speaker_id):
            if row.tenant_id != tenant_id or row.speaker_id not in speakers:
                continue
            vector = self._open(row)
            name, external_id = speakers[row.speaker_id]
            out.append(Voiceprint(row.speaker_id, name, vector, external_id))
        return out

    def _open(self, row: WarmRow) -> np.ndarray:
        key = (row.tenant_id, row.speaker_id, row.node_id, row.enrolled_at.isoformat())
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        vector = np.asarray(
            self._cipher.open(row.sealed_embedding, tenant_id=row.tenant_id, subject_id=row.speaker_id),
            dtype=np.float64,
        )
        norm = float(np.linalg.norm(vector))
        vector = vector / norm if norm > 0 else vector
        with self._lock:
            self._cache[key] = vector
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return vector
