"""The one reader of a tenant's voiceprints: the ready speakers on one node (streaming
identification, the duplicate-voice check) and a job's chosen candidates per node.

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

from scaiecho.adapters.speakers import SPEAKER_PREFIX, WarmRegistry
from scaiecho.adapters.storage import storage_call
from scaiecho.adapters.tables import SpeakerRow
from scaiecho.adapters.voiceprints import VoiceprintCipher
from scaiecho.domain.speakers import EnrollmentStatus, WarmEntry

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

    @storage_call("could not read the tenant's voiceprints")
    def on_node(self, tenant_id: str, node_id: str, *, min_speech_s: float = 0.0) -> list[Voiceprint]:
        """Every ready, live speaker of the tenant that has a voiceprint from ``node_id`` and at
        least ``min_speech_s`` of enrolled speech (identification passes the tenant's
        ``Settings.identification_min_speech_s``; the duplicate-voice check wants them all)."""
        live_ready = ((SpeakerRow.enrollment_status == EnrollmentStatus.READY.value)
                      & SpeakerRow.tombstoned_at.does_not_exist())
        if min_speech_s > 0:
            live_ready = live_ready & (SpeakerRow.total_speech_s >= min_speech_s)
        speakers = {
            r.speaker_id: (r.display_name, r.external_id)
            for r in SpeakerRow.query(
                tenant_id,
                range_key_condition=SpeakerRow.speaker_id.startswith(SPEAKER_PREFIX),
                filter_condition=live_ready,
                attributes_to_get=["tenant_id", "speaker_id", "display_name", "external_id"],
            )
        }
        out = []
        for entry in WarmRegistry().on_node(tenant_id, list(speakers), node_id):
            name, external_id = speakers[entry.speaker_id]
            out.append(Voiceprint(entry.speaker_id, name, self.open(entry), external_id))
        return out

    def of_speakers(self, tenant_id: str, speaker_ids: list[str], node_ids: list[str]
                    ) -> dict[str, list[Voiceprint]]:
        """Per node, the voiceprints of exactly these speakers (a job's candidates: the caller has
        already checked that each is the tenant's, live and identifiable)."""
        registry = WarmRegistry()
        return {node_id: [Voiceprint(e.speaker_id, None, self.open(e))
                          for e in registry.on_node(tenant_id, speaker_ids, node_id)]
                for node_id in node_ids}

    def open(self, entry: WarmEntry) -> np.ndarray:
        """The L2-normalised voiceprint (a KMS decrypt, cached per warm row and ``enrolled_at``)."""
        key = (entry.tenant_id, entry.speaker_id, entry.node_id, entry.enrolled_at.isoformat())
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        vector = np.asarray(
            self._cipher.open(entry.sealed_embedding, tenant_id=entry.tenant_id,
                              subject_id=entry.speaker_id),
            dtype=np.float64,
        )
        norm = float(np.linalg.norm(vector))
        vector = vector / norm if norm > 0 else vector
        with self._lock:
            self._cache[key] = vector
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return vector
