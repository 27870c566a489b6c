"""Speakers, consents and the warm registry in DynamoDB (pynamodb). Domain objects out."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import (
    DeleteError,
    DoesNotExist,
    TransactWriteError,
    UpdateError,
)
from pynamodb.transactions import TransactWrite

from scaiecho.adapters.aws import dynamodb_connection
from scaiecho.adapters.cursors import decode_cursor, encode_cursor
from scaiecho.adapters.storage import storage_call, storage_errors
from scaiecho.adapters.tables import (
    ConsentRow,
    ExternalIdClaimRow,
    SampleMap,
    SpeakerRow,
    WarmRow,
    utcnow,
)
from scaiecho.domain.consent_checks import CheckStatus, TextCheck, VoiceCheck
from scaiecho.domain.speakers import Consent, EnrollmentStatus, Sample, Speaker, WarmEntry
from scaiecho.errors import Conflict, NotFound, StorageError

SPEAKER_PREFIX = "spk_"
_UPDATE_ATTEMPTS = 5

# What a tombstone keeps: keys, when/why it was erased, bookkeeping. Everything else goes.
_SCRUBBED = (
    SpeakerRow.external_id, SpeakerRow.display_name, SpeakerRow.language_primary,
    SpeakerRow.description, SpeakerRow.samples, SpeakerRow.total_speech_s,
    SpeakerRow.enrollment_quality, SpeakerRow.consent_id, SpeakerRow.consent_version,
    SpeakerRow.enrolled_on, SpeakerRow.note, SpeakerRow.last_used_at,
)


@dataclass(frozen=True)
class SpeakerActivity:
    """What the retention sweep needs to know about a live speaker (nothing personal)."""

    tenant_id: str
    speaker_id: str
    created_at: datetime
    last_used_at: datetime | None


def _sample(m: SampleMap) -> Sample:
    return Sample(
        sample_id=m.sample_id, key=m.key, sha256=m.sha256, media_type=m.media_type,
        duration_s=float(m.duration_s), speech_s=float(m.speech_s), grade=m.grade,
        bytes=int(m.bytes), created_at=m.created_at,
    )


def _speaker(row: SpeakerRow) -> Speaker:
    return Speaker(
        tenant_id=row.tenant_id,
        speaker_id=row.speaker_id,
        external_id=row.external_id,
        display_name=row.display_name,
        language_primary=row.language_primary,
        description=row.description,
        enrollment_status=EnrollmentStatus(row.enrollment_status),
        samples=[_sample(s) for s in (row.samples or [])],
        total_speech_s=float(row.total_speech_s or 0),
        enrollment_quality=row.enrollment_quality,
        consent_id=row.consent_id,
        consent_version=row.consent_version,
        enrolled_on=sorted(row.enrolled_on or []),
        note=row.note,
        created_at=row.created_at,
        updated_at=row.updated_at,
        tombstoned_at=row.tombstoned_at,
        version=row.version,
        allow_duplicate_voice=bool(row.allow_duplicate_voice),
        duplicate_voice_of=row.duplicate_voice_of,
    )


def _consent(row: ConsentRow) -> Consent:
    voice = text = None
    if row.voice_status is not None:
        voice = VoiceCheck(CheckStatus(row.voice_status), float(row.voice_cosine), float(row.voice_score),
                           float(row.voice_threshold))
    if row.text_status is not None:
        text = TextCheck(CheckStatus(row.text_status),
                         None if row.text_score is None else float(row.text_score), row.text_heard,
                         float(row.text_threshold), row.text_reason)
    return Consent(
        tenant_id=row.tenant_id, consent_id=row.consent_id, speaker_id=row.speaker_id,
        full_name=row.full_name, stated_purpose=row.stated_purpose, consent_text=row.consent_text,
        consent_version=row.consent_version, audio_key=row.audio_key, audio_sha256=row.audio_sha256,
        captured_at=row.captured_at, actor=row.actor, voice_check=voice, text_check=text,
        checked_on_node=row.checked_on_node, check_model_version=row.check_model_version,
    )


def sample_map(sample: Sample) -> SampleMap:
    return SampleMap(
        sample_id=sample.sample_id, key=sample.key, sha256=sample.sha256,
        media_type=sample.media_type, duration_s=sample.duration_s, speech_s=sample.speech_s,
        grade=sample.grade, bytes=sample.bytes, created_at=sample.created_at,
    )


class SpeakerStore:
    @storage_call("could not store the speaker")
    def create(self, speaker: Speaker, consent: Consent) -> None:
        """Speaker row + external-id claim + consent record, all or nothing."""
        row = SpeakerRow(
            speaker.tenant_id, speaker.speaker_id,
            external_id=speaker.external_id, display_name=speaker.display_name,
            language_primary=speaker.language_primary, description=speaker.description,
            enrollment_status=speaker.enrollment_status.value,
            samples=[sample_map(s) for s in speaker.samples],
            total_speech_s=speaker.total_speech_s, enrollment_quality=speaker.enrollment_quality,
            consent_id=consent.consent_id, consent_version=consent.consent_version,
            created_at=speaker.created_at, updated_at=speaker.updated_at,
            allow_duplicate_voice=speaker.allow_duplicate_voice or None,
            duplicate_voice_of=speaker.duplicate_voice_of,
        )
        voice, text = consent.voice_check, consent.text_check
        consent_row = ConsentRow(
            consent.tenant_id, f"{consent.speaker_id}#{consent.consent_id}",
            consent_id=consent.consent_id, speaker_id=consent.speaker_id,
            full_name=consent.full_name, stated_purpose=consent.stated_purpose,
            consent_text=consent.consent_text, consent_version=consent.consent_version,
            audio_key=consent.audio_key, audio_sha256=consent.audio_sha256,
            captured_at=consent.captured_at, actor=consent.actor,
            voice_status=voice.status.value if voice else None,
            voice_score=voice.score if voice else None,
            voice_cosine=voice.cosine if voice else None,
            voice_threshold=voice.threshold if voice else None,
            text_status=text.status.value if text else None,
            text_score=text.coverage if text else None,
            text_threshold=text.threshold if text else None,
            text_heard=(text.heard or None) if text else None,
            text_reason=text.reason if text else None,
            checked_on_node=consent.checked_on_node, check_model_version=consent.check_model_version,
        )
        try:
            with TransactWrite(connection=_connection()) as tx:
                tx.save(row, condition=SpeakerRow.speaker_id.does_not_exist())
                tx.save(consent_row, condition=ConsentRow.consent_key.does_not_exist())
                if speaker.external_id:
                    tx.save(
                        ExternalIdClaimRow(speaker.tenant_id, f"ext#{speaker.external_id}",
                                           claimed_by=speaker.speaker_id),
                        condition=ExternalIdClaimRow.speaker_id.does_not_exist(),
                    )
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in (exc.cancellation_reasons or [])]
            if speaker.external_id and len(reasons) == 3 and reasons[2] == "ConditionalCheckFailed":
                raise external_id_conflict(
                    speaker.external_id, self.external_id_holder(speaker.tenant_id, speaker.external_id)
                ) from exc
            raise

    @storage_call("could not read the speaker")
    def external_id_holder(self, tenant_id: str, external_id: str) -> str | None:
        """The speaker id that claims ``external_id`` in this tenant (None: unclaimed)."""
        try:
            claim = ExternalIdClaimRow.get(tenant_id, f"ext#{external_id}", consistent_read=True)
        except DoesNotExist:
            return None
        return str(claim.claimed_by)

    def by_external_id(self, tenant_id: str, external_id: str) -> Speaker | None:
        """The tenant's speaker holding ``external_id`` (erased ones release their claim)."""
        holder = self.external_id_holder(tenant_id, external_id)
        return self.get(tenant_id, holder) if holder else None

    @storage_call("could not read the speaker")
    def get(self, tenant_id: str, speaker_id: str) -> Speaker | None:
        """Tenant-scoped read: another tenant's speaker is simply not found."""
        if not speaker_id.startswith(SPEAKER_PREFIX):
            return None
        try:
            return _speaker(SpeakerRow.get(tenant_id, speaker_id, consistent_read=True))
        except DoesNotExist:
            return None

    @storage_call("could not list speakers")
    def page(self, tenant_id: str, *, limit: int, cursor: str | None) -> tuple[list[Speaker], str | None]:
        result = SpeakerRow.query(
            tenant_id,
            range_key_condition=SpeakerRow.speaker_id.startswith(SPEAKER_PREFIX),
            filter_condition=SpeakerRow.tombstoned_at.does_not_exist(),
            limit=limit,
            last_evaluated_key=decode_cursor(cursor, tenant_id=tenant_id, range_key="speaker_id",
                                             prefix=SPEAKER_PREFIX),
        )
        speakers = [_speaker(r) for r in result]
        return speakers, encode_cursor(result.last_evaluated_key)

    @storage_call("could not read the speaker")
    def add_sample(self, speaker: Speaker, sample: Sample, quality: str | None) -> Speaker:
        """Append ``sample`` (a compare-and-set on the row's version, retried when concurrent
        requests add samples to the same speaker). NotFound once it is erased; 409
        ``speaker_busy`` only if it keeps changing under us."""
        for attempt in range(_UPDATE_ATTEMPTS):
            try:
                row = SpeakerRow.get(speaker.tenant_id, speaker.speaker_id, consistent_read=True)
            except DoesNotExist:
                row = None
            if row is None or row.tombstoned_at is not None:
                raise NotFound(f"no speaker {speaker.speaker_id!r}", code="speaker_not_found")
            try:
                row.update(
                    actions=[
                        SpeakerRow.samples.set(SpeakerRow.samples.append([sample_map(sample)])),
                        SpeakerRow.total_speech_s.add(sample.speech_s),
                        SpeakerRow.enrollment_quality.set(quality or sample.grade),
                        SpeakerRow.updated_at.set(utcnow()),
                    ],
                    condition=SpeakerRow.tombstoned_at.does_not_exist(),
                )
                return _speaker(row)
            except UpdateError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise StorageError("could not add the sample") from exc
            # Another writer got there first (or an erasure began): re-read and try again
            # after a jittered pause (not a secret: any PRNG will do).
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311
        raise Conflict("the speaker is being changed by other requests; retry", code="speaker_busy",
                       details={"speaker_id": speaker.speaker_id})

    @storage_call("could not read the speaker")
    def remove_sample(self, speaker: Speaker, sample: Sample) -> None:
        """Undo :meth:`add_sample` (its blob could not be committed): drop the sample again."""
        for _ in range(_UPDATE_ATTEMPTS):
            try:
                row = SpeakerRow.get(speaker.tenant_id, speaker.speaker_id, consistent_read=True)
            except DoesNotExist:
                return
            index = next((i for i, s in enumerate(row.samples or []) if s.sample_id == sample.sample_id),
                         None)
            if index is None:
                return
            try:
                row.update(actions=[SpeakerRow.samples[index].remove(),
                                    SpeakerRow.total_speech_s.add(-sample.speech_s),
                                    SpeakerRow.updated_at.set(utcnow())])
                return
            except UpdateError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise StorageError("could not remove the sample") from exc
        raise StorageError("could not remove the sample: concurrent updates")

    @storage_call("could not update the enrollment status")
    def set_enrollment(
        self, tenant_id: str, speaker_id: str, *, status: EnrollmentStatus,
        enrolled_on: list[str], note: str | None,
    ) -> Speaker | None:
        try:
            row = SpeakerRow.get(tenant_id, speaker_id, consistent_read=True)
        except DoesNotExist:
            return None
        if row.tombstoned_at is not None:
            return _speaker(row)  # erased meanwhile: never resurrect
        actions: list[Any] = [
            SpeakerRow.enrollment_status.set(status.value),
            SpeakerRow.updated_at.set(utcnow()),
            SpeakerRow.note.set(note) if note else SpeakerRow.note.remove(),
            SpeakerRow.enrolled_on.set(set(enrolled_on)) if enrolled_on else SpeakerRow.enrolled_on.remove(),
        ]
        row.update(actions=actions, condition=SpeakerRow.tombstoned_at.does_not_exist())
        return _speaker(row)

    @storage_call("could not read the speaker")
    def mark_evicted(self, tenant_id: str, speaker_id: str, *, note: str) -> bool:
        """``ready`` → ``evicted`` (no node holds the speaker any more). A compare-and-set on the
        row's version: False when the speaker is no longer ready, is erased, or changed meanwhile
        (an enrollment settling now decides instead)."""
        try:
            row = SpeakerRow.get(tenant_id, speaker_id, consistent_read=True)
        except DoesNotExist:
            return False
        if row.tombstoned_at is not None or row.enrollment_status != EnrollmentStatus.READY.value:
            return False
        try:
            row.update(actions=[SpeakerRow.enrollment_status.set(EnrollmentStatus.EVICTED.value),
                                SpeakerRow.note.set(note), SpeakerRow.enrolled_on.remove(),
                                SpeakerRow.updated_at.set(utcnow())],
                       condition=SpeakerRow.tombstoned_at.does_not_exist())
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise StorageError("could not update the enrollment status") from exc
        return True

    @storage_call("could not roll back the speaker")
    def delete_unconfirmed(self, speaker: Speaker, consent_id: str) -> None:
        """Compensation after a failure right after create(): remove the rows we just wrote."""
        with TransactWrite(connection=_connection()) as tx:
            # Whatever its version now (an enrollment may have touched it): it goes.
            tx.delete(SpeakerRow(speaker.tenant_id, speaker.speaker_id), add_version_condition=False)
            tx.delete(ConsentRow(speaker.tenant_id, f"{speaker.speaker_id}#{consent_id}"))
            if speaker.external_id:
                tx.delete(ExternalIdClaimRow(speaker.tenant_id, f"ext#{speaker.external_id}"))


    # ------------------------------------------------------------------ erasure
    def mark_erasing(self, tenant_id: str, speaker_id: str, audit_id: str) -> bool:
        """Tombstone the speaker for erasure ``audit_id``: reads answer 404 from now on and
        enrollment can no longer write to it. Idempotent; False when there is no such row."""

        def actions(row: SpeakerRow) -> list[Any] | None:
            if row.tombstoned_at is not None and row.erasure_audit_id == audit_id:
                return None
            return [SpeakerRow.tombstoned_at.set(row.tombstoned_at or utcnow()),
                    SpeakerRow.erasure_audit_id.set(audit_id),
                    SpeakerRow.updated_at.set(utcnow())]

        return self._update_erasing(tenant_id, speaker_id, actions, "could not tombstone the speaker")

    def scrub(self, tenant_id: str, speaker_id: str, audit_id: str) -> bool:
        """Remove every personal/biometric attribute from the tombstone (re-applicable)."""

        def actions(row: SpeakerRow) -> list[Any] | None:
            present = [a for a in _SCRUBBED if getattr(row, a.attr_name) not in (None, [], set())]
            if not present and row.enrollment_status == EnrollmentStatus.EVICTED.value:
                return None
            return [*(a.remove() for a in present),
                    SpeakerRow.enrollment_status.set(EnrollmentStatus.EVICTED.value),
                    SpeakerRow.updated_at.set(utcnow())]

        return self._update_erasing(tenant_id, speaker_id, actions, "could not scrub the speaker")

    def _update_erasing(self, tenant_id: str, speaker_id: str, build: Any, message: str) -> bool:
        audit_id_of: Any = None
        with storage_errors(message):
            for _ in range(_UPDATE_ATTEMPTS):
                try:
                    row = SpeakerRow.get(tenant_id, speaker_id, consistent_read=True)
                except DoesNotExist:
                    return False
                actions = build(row)
                if actions is None:
                    return True
                audit_id_of = row.erasure_audit_id
                try:
                    # The version attribute makes this a compare-and-set; a concurrent writer retries.
                    row.update(actions=actions)
                    return True
                except UpdateError as exc:
                    if exc.cause_response_code != "ConditionalCheckFailedException":
                        raise
        raise StorageError(f"{message}: concurrent updates (erasure {audit_id_of})")

    @storage_call("could not read the consent record")
    def consent(self, tenant_id: str, speaker_id: str, consent_id: str) -> Consent | None:
        try:
            return _consent(ConsentRow.get(tenant_id, f"{speaker_id}#{consent_id}", consistent_read=True))
        except DoesNotExist:
            return None

    @storage_call("could not list the consent records")
    def consents_between(
        self, tenant_id: str, start: datetime, end: datetime, *, limit: int, cursor: str | None,
    ) -> tuple[list[Consent], str | None]:
        """The tenant's consent records captured in [start, end), a page at a time (a filtered
        query of the tenant's partition: a DPO export, not a hot path)."""
        result = ConsentRow.query(
            tenant_id,
            filter_condition=(ConsentRow.captured_at >= start) & (ConsentRow.captured_at < end),
            limit=limit,
            last_evaluated_key=decode_cursor(cursor, tenant_id=tenant_id, range_key="consent_key",
                                             prefix=SPEAKER_PREFIX),
        )
        consents = [_consent(r) for r in result]
        return consents, encode_cursor(result.last_evaluated_key)

    @storage_call("could not delete the consent records")
    def delete_consents(self, tenant_id: str, speaker_id: str) -> int:
        """Delete every consent record of the speaker (only erasure may): returns how many."""
        deleted = 0
        for row in ConsentRow.query(
            tenant_id, range_key_condition=ConsentRow.consent_key.startswith(f"{speaker_id}#"),
            consistent_read=True,
        ):
            row.delete()
            deleted += 1
        return deleted

    @storage_call("could not release the external id")
    def release_external_id(self, tenant_id: str, external_id: str, speaker_id: str) -> bool:
        """Delete the external-id claim if (and only if) this speaker holds it."""
        try:
            ExternalIdClaimRow(tenant_id, f"ext#{external_id}").delete(
                condition=ExternalIdClaimRow.claimed_by == speaker_id
            )
            return True
        except DeleteError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False  # already released (or someone else's claim now)
            raise

    @storage_call("could not scan speakers")
    def live_speakers(self) -> Iterator[SpeakerActivity]:
        """Every tenant's live speakers (the daily retention sweep: a paginated scan)."""
        for row in SpeakerRow.scan(
            filter_condition=SpeakerRow.speaker_id.startswith(SPEAKER_PREFIX)
            & SpeakerRow.tombstoned_at.does_not_exist(),
            attributes_to_get=["tenant_id", "speaker_id", "created_at", "last_used_at"],
        ):
            yield SpeakerActivity(row.tenant_id, row.speaker_id, row.created_at, row.last_used_at)


    @storage_call("could not scan speakers")
    def scan_live(self) -> Iterator[Speaker]:
        """Every tenant's live speakers (the node probe's lifecycle pass: a paginated scan)."""
        for row in SpeakerRow.scan(
            filter_condition=SpeakerRow.speaker_id.startswith(SPEAKER_PREFIX)
            & SpeakerRow.tombstoned_at.does_not_exist(),
        ):
            yield _speaker(row)


def _warm(row: WarmRow) -> WarmEntry:
    return WarmEntry(
        tenant_id=row.tenant_id, speaker_id=row.speaker_id, node_id=row.node_id,
        sealed_embedding=bytes(row.sealed_embedding), dim=int(row.dim), model_id=row.model_id,
        model_version=row.model_version, enrolled_at=row.enrolled_at,
    )


class WarmRegistry:
    @storage_call("could not record the warm node")
    def put(
        self, *, tenant_id: str, speaker_id: str, node_id: str, sealed: bytes, dim: int,
        model_id: str | None, model_version: str | None, sample_ids: list[str],
    ) -> bool:
        """Record the voiceprint only while the speaker exists and is not erased (one transaction,
        so an enrollment racing an erasure can never leave a voiceprint behind). False if erased."""
        row = WarmRow(
            f"{tenant_id}#{speaker_id}", node_id, tenant_id=tenant_id, speaker_id=speaker_id,
            sealed_embedding=sealed, dim=dim, model_id=model_id, model_version=model_version,
            sample_ids=set(sample_ids) or None, enrolled_at=utcnow(),
        )
        try:
            with TransactWrite(connection=_connection()) as tx:
                tx.condition_check(
                    SpeakerRow, tenant_id, speaker_id,
                    condition=SpeakerRow.speaker_id.exists() & SpeakerRow.tombstoned_at.does_not_exist(),
                )
                tx.save(row)
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in (exc.cancellation_reasons or [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            raise
        return True

    @storage_call("could not read the warm registry")
    def for_speaker(self, tenant_id: str, speaker_id: str) -> list[WarmEntry]:
        return [_warm(r) for r in WarmRow.query(f"{tenant_id}#{speaker_id}", consistent_read=True)]

    @storage_call("could not read the warm registry")
    def on_node(self, tenant_id: str, speaker_ids: list[str], node_id: str) -> list[WarmEntry]:
        """The node's voiceprints of these speakers (one batch read; missing ones are absent)."""
        if not speaker_ids:
            return []
        rows = WarmRow.batch_get([(f"{tenant_id}#{sid}", node_id) for sid in speaker_ids])
        return sorted((_warm(r) for r in rows if r.tenant_id == tenant_id),
                      key=lambda e: e.speaker_id)

    @storage_call("could not delete the warm registry rows")
    def delete_for_speaker(self, tenant_id: str, speaker_id: str) -> int:
        """Forget the speaker on every node: after this no workflow can name it again."""
        deleted = 0
        for row in WarmRow.query(f"{tenant_id}#{speaker_id}", consistent_read=True,
                                 attributes_to_get=["speaker_key", "node_id"]):
            row.delete()
            deleted += 1
        return deleted

    def enrolled_at(self, tenant_id: str, speaker_id: str) -> dict[str, datetime]:
        return {r.node_id: r.enrolled_at for r in self.for_speaker(tenant_id, speaker_id)}


def external_id_conflict(external_id: str, holder: str | None) -> Conflict:
    """409 ``speaker_exists``, naming the speaker that holds the id (seeds: update that one)."""
    return Conflict(
        f"a speaker with external_id {external_id!r} already exists"
        + (f": {holder}; add samples to it instead" if holder else ""),
        code="speaker_exists",
        details={"external_id": external_id, "speaker_id": holder},
    )


def _connection() -> Connection:
    connection: Connection = dynamodb_connection()
    return connection
