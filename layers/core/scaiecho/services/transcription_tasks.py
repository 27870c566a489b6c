"""The transcription workflow's steps (statemachine/transcribe.asl.json).

A job submitted with a remote ``audio_urls`` entry starts with the fetch step: the hardened
fetcher (:mod:`scaiecho.adapters.url_fetch`) downloads it into the tenant's ``uploads/`` area of
the audio bucket, then the job runs as if the recording had been uploaded. A failed fetch fails
the job with its specific code (``audio_url_forbidden_address``, ``audio_url_timeout``, ...).

ASR and diarization run in parallel, each on a node it picks (online nodes first, in random order,
so jobs spread over the fleet; a node that fails is skipped for the next one). Step results go to
S3 and only their keys travel through the workflow (Step Functions payloads are capped at 256 KB).
A step that knows why a job fails records the specific error on the job before raising; the
workflow's catch-all (``fail``) records whatever is left (timeouts, crashed tasks).
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar

from scaiecho.adapters.candidates import TenantVoiceprints
from scaiecho.adapters.jobs import JobFiles, JobStore, input_key, mark_speakers_used, result_key
from scaiecho.adapters.nodes import Node, NodeClient, NodeStore
from scaiecho.adapters.speakers import SpeakerStore
from scaiecho.adapters.tables import utcnow
from scaiecho.adapters.url_fetch import FetchLimits, Resolver, fetch_audio, system_resolver
from scaiecho.adapters.workflows import execution_link
from scaiecho.audio.decode import FORMATS, SUPPORTED_FORMATS, check_header, detect_format
from scaiecho.contracts.node import Candidate, NodeResult, S3Audio
from scaiecho.domain.jobs import DEFAULT_BACKEND, TranscribeOptions
from scaiecho.domain.transcripts import merge as merge_transcript
from scaiecho.domain.voice_match import voice_match_scores, without_profile
from scaiecho.errors import (
    AudioEmpty,
    AudioError,
    AudioUrlFailed,
    NodeError,
    NotFound,
    ScaiEchoError,
    ServiceUnavailable,
    StorageError,
    ValidationFailed,
)
from scaiecho.observability import get_logger, record_outcome
from scaiecho.services.uploads import require_job_duration
from scaiecho.services.voice_profiles import ProfileCandidate, match_candidate
from scaiecho.settings import get_settings

ASR_ENGINE = "pyannote"  # the pyannote node image also carries faster-whisper
R = TypeVar("R", bound=NodeResult)


def ordered_nodes(engine: str) -> list[Node]:
    """Nodes of ``engine``: online ones first (shuffled: load spreads), then the others."""
    nodes = [n for n in NodeStore().list() if n.engine == engine and n.endpoint_name]
    online = [n for n in nodes if n.status == "online"]
    rest = [n for n in nodes if n.status != "online"]
    random.shuffle(online)
    random.shuffle(rest)
    return online + rest


def _refused(exc: NodeError) -> bool:
    """The node answered and refused the request (4xx): another node would refuse it too."""
    status = (exc.details or {}).get("node_status") if isinstance(exc.details, dict) else None
    return isinstance(status, int) and 400 <= status < 500


def invoke_first(nodes: list[Node], call: Callable[[NodeClient, Node], R], *, what: str
                 ) -> tuple[Node, R]:
    """``call`` on the first node that answers; a node that refuses the request (4xx) ends it."""
    if not nodes:
        raise ServiceUnavailable(f"no node can run {what}", code="no_node_available")
    client = NodeClient()
    errors = []
    for node in nodes:
        try:
            return node, call(client, node)
        except NodeError as exc:
            if _refused(exc):
                code = (exc.details or {}).get("node_code") or "audio_invalid"
                raise ValidationFailed(exc.message, code=code) from exc
            errors.append(f"{node.node_id}: {exc.message}")
    raise NodeError(f"{what} failed on every node: " + "; ".join(errors)[:800])


def _record_failure(tenant_id: str, job_id: str, exc: ScaiEchoError) -> None:
    """A final failure with a specific reason. Storage errors are transient: the workflow retries
    them, and its catch-all records the job as failed if the retries run out."""
    if not isinstance(exc, StorageError):
        JobStore().fail(tenant_id, job_id, code=exc.code, message=exc.message)


def _audio_key(store: JobStore, tenant_id: str, job_id: str) -> str:
    """The job's audio, read from its row: the workflow input carries ids only, never a key that
    may hold a client's file name (it would sit in the execution history for everyone to read)."""
    job = store.get(tenant_id, job_id)
    if job is None:
        raise NotFound(f"no transcription job {job_id!r}", code="job_not_found")
    return job.audio_key


# ------------------------------------------------------------------ fetch (remote audio_urls)
SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024  # larger downloads spill to the task's /tmp
PROBE_HEAD_BYTES = 256 * 1024


def sniff_audio(head: bytes) -> str:
    """The container of a fetched recording's first bytes; audio_url_not_audio otherwise."""
    fmt = detect_format(head)
    if fmt is None:
        raise AudioUrlFailed(
            "the audio URL did not return audio this platform decodes "
            f"(accepted: {', '.join(SUPPORTED_FORMATS)})",
            code="audio_url_not_audio", details={"accepted": list(SUPPORTED_FORMATS)})
    return fmt


def fetch(*, tenant_id: str, job_id: str, bucket: str,
          resolver: Resolver = system_resolver) -> dict[str, Any]:
    """Download the job's remote recording into the tenant's area; the job then runs as usual.

    The URL is read from the job row (the workflow input carries ids only: a URL may hold a
    signed query string, and the execution history is readable by operators).
    """
    store = JobStore()
    job = store.get(tenant_id, job_id)
    if job is None:
        raise NotFound(f"no transcription job {job_id!r}", code="job_not_found")
    if job.source_url is None:
        return {"fetched": False}
    if not store.stage(tenant_id, job_id, "fetch", "running"):
        return {"settled": True}
    settings = get_settings()
    limits = FetchLimits(max_bytes=settings.max_job_audio_bytes,
                         timeout_s=settings.audio_url_fetch_timeout_s)
    try:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as spool:
            got = fetch_audio(job.source_url, spool, allowlist=settings.audio_url_allowed,
                              limits=limits, sniff=sniff_audio, resolver=resolver)
            spool.seek(0)
            head = spool.read(PROBE_HEAD_BYTES)
            _check_fetched(head, got.format, got.size)
            spool.seek(0)
            key = input_key(tenant_id, job_id, FORMATS[got.format].extension)
            JobFiles(bucket=bucket).put_file(key, spool, FORMATS[got.format].media_type)
        store.set_audio(tenant_id, job_id, audio_key=key, audio_bytes=got.size)
    except ScaiEchoError as exc:
        _record_failure(tenant_id, job_id, exc)
        raise
    store.stage(tenant_id, job_id, "fetch", "done")
    get_logger().info("job audio fetched", extra={
        "job_id": job_id, "bytes": got.size, "format": got.format, "redirects": got.redirects})
    return {"fetched": True, "bytes": got.size}


def _check_fetched(head: bytes, fmt: str, size: int) -> None:
    """The checks an uploaded recording gets at submit: a sane header, a duration within limits."""
    if size == 0:
        raise AudioEmpty("the audio URL returned an empty file")
    check_header(head, fmt)
    require_job_duration(head, size, fmt)


# ------------------------------------------------------------------ ASR
def run_asr(*, tenant_id: str, job_id: str, bucket: str, audio_key: str | None = None,
            language: str | None) -> dict[str, Any]:
    store = JobStore()
    audio_key = audio_key or _audio_key(store, tenant_id, job_id)
    if not store.stage(tenant_id, job_id, "asr", "running"):
        return {"settled": True}
    try:
        audio = S3Audio.at(bucket, audio_key)
        node, data = invoke_first(
            ordered_nodes(ASR_ENGINE),
            lambda client, node: client.transcribe(node.endpoint_name, audio, language=language,
                                                   priority="batch"),
            what="speech-to-text",
        )
        limit = get_settings().max_job_duration_s
        if float(data.duration_s or 0.0) > limit:
            raise AudioError(f"the recording is longer than the limit of {limit:.0f} s",
                             code="audio_too_long",
                             details={"duration_s": data.duration_s, "limit_s": limit})
        key = result_key(tenant_id, job_id, "asr")
        JobFiles(bucket=bucket).put_json(key, data.model_dump(mode="json", exclude_none=True))
    except ScaiEchoError as exc:
        _record_failure(tenant_id, job_id, exc)
        raise
    store.stage(tenant_id, job_id, "asr", "done")
    return {"key": key, "node_id": node.node_id}


# ------------------------------------------------------------------ diarization
def _tenant_ready_speakers(tenant_id: str, restrict: list[str]) -> list[str]:
    """The tenant's identification candidates (of ``restrict`` when given), as of now."""
    store = SpeakerStore()
    min_speech_s = get_settings().identification_min_speech_s(tenant_id)
    if restrict:
        out = []
        for sid in restrict:
            speaker = store.get(tenant_id, sid)
            if speaker is not None and speaker.identifiable(min_speech_s):
                out.append(sid)
        return out
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = store.page(tenant_id, limit=200, cursor=cursor)
        ids += [s.speaker_id for s in page if s.identifiable(min_speech_s)]
        if not cursor:
            return ids


def _candidates(tenant_id: str, speaker_ids: list[str], nodes: list[Node]
                ) -> tuple[list[Node], dict[str, list[Candidate]]]:
    """Order nodes by how many candidates they hold (ties keep the online-first random order);
    returns them and, per node, the voiceprints of the speakers warm there."""
    prints = (TenantVoiceprints().of_speakers(tenant_id, speaker_ids, [n.node_id for n in nodes])
              if speaker_ids else {})
    warm = {
        n.node_id: [Candidate(speaker_id=p.speaker_id, embedding=p.embedding.tolist())
                    for p in prints.get(n.node_id, [])]
        for n in nodes
    }
    ranked = sorted(nodes, key=lambda n: -len(warm[n.node_id]))
    return ranked, warm


PROFILE_UNAVAILABLE = (
    "voice_profile_unavailable: match_me was requested but you have no active voice profile "
    "(none, deleted, or it needs re-consent); no voiceMatchScore was added"
)
PROFILE_OTHER_MODEL = (
    "voice_profile_unavailable: your voice profile was made with another model version than the "
    "diarization node's; record it again to get voiceMatchScore"
)


def _match_profile(tenant_id: str, job_id: str, opts: TranscribeOptions) -> ProfileCandidate | None:
    """The caller's profile as of now (not as of submit): deleted or re-consent-needed → None."""
    if not opts.match_me:
        return None
    job = JobStore().get(tenant_id, job_id)
    return match_candidate(tenant_id, job.match_user_id if job else None)


def _same_model(profile: ProfileCandidate, node: Node) -> bool:
    """Cosines only mean something within one embedding model (unknown versions are trusted)."""
    return not (profile.model_version and node.model_version
                and profile.model_version != node.model_version)


def run_diarize(*, tenant_id: str, job_id: str, bucket: str, audio_key: str | None = None,
                options: dict[str, Any]) -> dict[str, Any]:
    """Diarize + identify (+ score against the caller's voice profile with match_me). Raises on
    failure: the workflow catches it and the job degrades to the plain transcript (this step never
    fails the job itself)."""
    opts = TranscribeOptions.from_stored(options)
    store = JobStore()
    audio_key = audio_key or _audio_key(store, tenant_id, job_id)
    if not store.stage(tenant_id, job_id, "diarization", "running"):
        return {"settled": True}
    speaker_ids = _tenant_ready_speakers(tenant_id, list(opts.speaker_ids))
    nodes, warm = _candidates(tenant_id, speaker_ids, ordered_nodes(opts.diarization.backend
                                                                    or DEFAULT_BACKEND))
    profile = _match_profile(tenant_id, job_id, opts)
    client = NodeClient()
    audio = S3Audio.at(bucket, audio_key)
    errors: list[str] = []
    for node in nodes or []:
        candidates = list(warm[node.node_id])
        matching = profile if profile is not None and _same_model(profile, node) else None
        if matching is not None:
            candidates.append(matching.node_candidate())
        try:
            result = client.diarize(
                node.endpoint_name, audio, candidates=candidates,
                min_speakers=opts.diarization.min_speakers,
                max_speakers=opts.diarization.max_speakers,
                priority="batch",  # live streams go first on the node (scheduling.py)
            )
        except NodeError as exc:
            message = exc.message
            if profile is not None:  # a node error may quote a candidate; the profile's id stays ours
                message = message.replace(profile.candidate_id, "voice profile")
            errors.append(f"{node.node_id}: {message}")
            if _refused(exc):
                break
            continue
        data = result.model_dump(mode="json", exclude_none=True)
        missing = sorted(set(opts.speaker_ids) - {c.speaker_id for c in warm[node.node_id]})
        scores: dict[str, float] | None = None
        if matching is not None:
            # Scores first (they need the clusters' embeddings and the profile's match), then the
            # profile leaves the identification map: it never names a speaker.
            scores = voice_match_scores(data, candidate_id=matching.candidate_id,
                                        embedding=matching.embedding)
            data["identified"] = without_profile(data.get("identified") or {}, matching.candidate_id)
        # Embeddings are biometric: the stored step result keeps turns and identities only.
        kept = {k: v for k, v in data.items() if k != "speakers"}
        kept["speakers"] = [{k: v for k, v in s.items() if k != "embedding"}
                            for s in data.get("speakers", [])]
        if missing:
            kept.setdefault("warnings", []).append(
                f"not enrolled on node {node.node_id}, so not identifiable here: {', '.join(missing)}"
            )
        if opts.match_me:
            if scores is not None:
                kept["voice_match"] = scores  # label -> score in [0, 1]; nothing else of the profile
            else:
                kept.setdefault("warnings", []).append(
                    PROFILE_UNAVAILABLE if profile is None else PROFILE_OTHER_MODEL)
        key = result_key(tenant_id, job_id, "diarization")
        JobFiles(bucket=bucket).put_json(key, kept)
        store.stage(tenant_id, job_id, "diarization", "done")
        return {"key": key, "node_id": node.node_id}
    store.stage(tenant_id, job_id, "diarization", "failed")
    if not nodes:
        raise ServiceUnavailable("no diarization node is registered", code="no_node_available")
    raise NodeError("diarization failed: " + "; ".join(errors)[:800])


# ------------------------------------------------------------------ merge + failure
def _degradation_warning(diarization: dict[str, Any], *, backend: str, timeout_s: int | None) -> str:
    error = str(diarization.get("error") or "")
    cause = diarization.get("cause")
    message = ""
    try:
        message = str(json.loads(cause).get("errorMessage", "")) if cause else ""
    except (ValueError, AttributeError):
        message = str(cause or "")
    # Worded as the transcription-job API's clients look for it (seeds): "Diarization failed:".
    if error == "States.Timeout":
        # The document's own example: "Diarization failed: pyannote timeout after 120s. ..."
        reason = f"{backend} timeout after {timeout_s}s" if timeout_s else f"{backend} timeout"
    else:
        reason = (message or error or "unknown error").rstrip(".")
    return f"Diarization failed: {reason}. Transcript returned without speaker labels."


def merge(*, tenant_id: str, job_id: str, bucket: str, options: dict[str, Any],
          asr: dict[str, Any], diarization: dict[str, Any],
          diarization_timeout_s: int | None = None) -> dict[str, Any]:
    opts = TranscribeOptions.from_stored(options)
    store = JobStore()
    if asr.get("settled") or not store.stage(tenant_id, job_id, "merge", "running"):
        return {"status": "settled"}
    files = JobFiles(bucket=bucket)
    try:
        asr_doc = files.get_json(asr["key"])
        warnings: list[str] = []
        diar_doc = None
        if opts.diarize:
            if diarization.get("key"):
                diar_doc = files.get_json(diarization["key"])
            else:
                warnings.append(_degradation_warning(
                    diarization, backend=opts.diarization.backend, timeout_s=diarization_timeout_s))
        voice_match = diar_doc.pop("voice_match", None) if diar_doc is not None else None
        names, live, external_ids = _names(tenant_id, diar_doc)
        if diar_doc is not None:
            # A speaker erased while the job ran is never named.
            diar_doc["identified"] = {k: v for k, v in (diar_doc.get("identified") or {}).items()
                                      if v.get("speaker_id") in live}
        transcript = merge_transcript(asr_doc, diar_doc, diarize=opts.diarize, names=names,
                                      warnings=warnings, voice_match=voice_match,
                                      external_ids=external_ids)
        out = transcript.serialize()
        key = result_key(tenant_id, job_id, "transcript")
        files.put_json(key, out)
        mark_speakers_used(tenant_id, transcript.identified_speaker_ids())
    except ScaiEchoError as exc:
        _record_failure(tenant_id, job_id, exc)
        raise
    store.complete(tenant_id, job_id, result=key, warnings=out["warnings"], duration_s=transcript.duration)
    get_logger().info("transcription job completed", extra={
        "job_id": job_id, "segments": len(transcript.segments), "diarized": transcript.diarized,
        "identified": len(transcript.identified_speaker_ids()), "warnings": len(out["warnings"])})
    _record_job_outcome(store, tenant_id, job_id, "completed")
    return {"status": "COMPLETED", "result_key": key}


def _record_job_outcome(store: JobStore, tenant_id: str, job_id: str, outcome: str) -> None:
    """``JobCompleted``/``JobFailed`` and ``JobDuration`` (submit → end) metrics."""
    job = store.get(tenant_id, job_id)
    record_outcome("Job", outcome, (utcnow() - job.created_at).total_seconds() if job else None)


def _names(tenant_id: str, diarization: dict[str, Any] | None
           ) -> tuple[dict[str, str | None], set[str], dict[str, str | None]]:
    """Display names, live ids and external ids of the identified speakers."""
    ids = {v.get("speaker_id") for v in ((diarization or {}).get("identified") or {}).values()}
    store = SpeakerStore()
    names: dict[str, str | None] = {}
    external_ids: dict[str, str | None] = {}
    for sid in sorted(i for i in ids if i):
        speaker = store.get(tenant_id, sid)
        if speaker is not None and speaker.tombstoned_at is None:
            names[sid] = speaker.display_name
            external_ids[sid] = speaker.external_id
    return names, set(names), external_ids


def fail(*, tenant_id: str, job_id: str, error: dict[str, Any],
         execution_arn: str | None = None) -> dict[str, Any]:
    """The workflow's catch-all: record why, unless a step already did."""
    kind = str(error.get("Error") or "error")
    message = ""
    try:
        message = str(json.loads(error.get("Cause") or "{}").get("errorMessage", ""))
    except (ValueError, AttributeError):
        message = str(error.get("Cause") or "")
    code = "timeout" if kind == "States.Timeout" else "job_failed"
    recorded = JobStore().fail(tenant_id, job_id, code=code,
                               message=message or f"the job failed ({kind})")
    get_logger().warning("transcription job failed", extra={
        "job_id": job_id, "error": kind, "recorded_here": recorded, "execution_arn": execution_arn,
        "console_url": execution_link(execution_arn or "")})
    _record_job_outcome(JobStore(), tenant_id, job_id, "failed")
    return {"status": "FAILED"}
