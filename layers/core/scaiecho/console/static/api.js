// The API client: base URL and key, JSON envelopes, and errors in words a person understands.

const KEY_STORAGE = "scaiecho.apiKey";       // sessionStorage: the key dies with the tab
const BASE_STORAGE = "scaiecho.apiBase";     // localStorage: a URL is not a secret
const STREAM_STORAGE = "scaiecho.streamUrl";
const CONSOLE_SUFFIX = /\/console\/?(index\.html)?$/;

// Served by the API itself (…/v1/modules/scaiecho/console/) the API is the parent path; hosted
// elsewhere, `?api=` or the settings field says where it is.
export function defaultApiBase() {
  const fromQuery = new URLSearchParams(location.search).get("api");
  if (fromQuery) return fromQuery.replace(/\/$/, "");
  const saved = localStorage.getItem(BASE_STORAGE);
  if (saved) return saved;
  if (CONSOLE_SUFFIX.test(location.pathname) && location.protocol.startsWith("http")) {
    return location.origin + location.pathname.replace(CONSOLE_SUFFIX, "");
  }
  return "";
}

export const config = {
  base: defaultApiBase(),
  key: sessionStorage.getItem(KEY_STORAGE) || "",
  streamUrl: localStorage.getItem(STREAM_STORAGE) || "",
};

export function saveConfig(base, key, streamUrl) {
  config.base = base.replace(/\/$/, "");
  config.key = key;
  localStorage.setItem(BASE_STORAGE, config.base);
  if (key) sessionStorage.setItem(KEY_STORAGE, key); else sessionStorage.removeItem(KEY_STORAGE);
  if (streamUrl !== undefined) {
    config.streamUrl = streamUrl;
    if (streamUrl) localStorage.setItem(STREAM_STORAGE, streamUrl);
    else localStorage.removeItem(STREAM_STORAGE);
  }
}

// The local gateway serves the stream beside the REST API; on AWS it is the stack's StreamUrl.
export function streamUrl() {
  if (config.streamUrl) return config.streamUrl;
  if (!config.base) return "";
  return config.base.replace(/^http/, "ws") + "/stream";
}

// Plain words for the codes the API documents; the server's message is shown beside them.
const WORDS = {
  unauthenticated: "The API key is missing, unknown or revoked. Paste a valid key above.",
  insufficient_scope: "This API key is not allowed to do that (it lacks a scope).",
  missing_field: "Some required fields are empty.",
  field_too_long: "One of the fields is too long.",
  invalid_language: "The language is not a valid tag (use e.g. en or en-GB).",
  audio_empty: "The recording is empty.",
  audio_undecodable: "The recording could not be read as audio.",
  unsupported_media_type: "That file type is not accepted: use WAV, MP3, FLAC, OGG or M4A.",
  audio_too_large: "The recording is too large.",
  audio_too_long: "The recording is too long.",
  preflight_failed: "The reference recording is not good enough to enroll.",
  consent_audio_no_speech: "No speech was found in the consent recording: read the consent text aloud.",
  speaker_exists: "A speaker with this external id already exists.",
  speaker_not_found: "That speaker does not exist (or was erased).",
  consent_voice_mismatch: "The consent recording is not in the same voice as the reference: the person being enrolled must read the consent themselves.",
  consent_text_mismatch: "The consent recording does not say the consent text: read the text shown, in full.",
  consent_check_unavailable: "No speaker node is online to check the consent; nothing was stored. Try again shortly.",
  voice_already_enrolled: "This voice is already enrolled as another speaker.",
  sample_voice_mismatch: "That sample is not in this speaker's voice.",
  invalid_cursor: "The page position is no longer valid; start from the first page.",
  idempotency_key_reused: "This request was already sent with different content.",
  request_in_progress: "The same request is still being processed; try again in a moment.",
  erasure_not_found: "No such erasure audit.",
  storage_error: "The platform could not store or read data; try again.",
  node_error: "A speaker node failed; try again.",
  job_not_found: "That job does not exist.",
  job_not_completed: "The job has not completed yet.",
  diarization_not_available: "This transcript has no speakers (diarization was off or failed).",
  audio_url_not_allowed: "That URL is not in this deployment's bucket under your tenant's folders.",
  audio_url_not_found: "Nothing was found at that URL.",
  unsupported_language: "The speech model cannot transcribe that language.",
  invalid_speaker_range: "Min speakers must not exceed max speakers.",
  invalid_min_speakers: "Min speakers must be between 1 and 20.",
  invalid_max_speakers: "Max speakers must be between 1 and 20.",
  no_node_available: "No speaker node is online.",
  backend_unavailable: "No node is online to transcribe the stream.",
  frame_too_large: "An audio frame was too large.",
  idle_timeout: "The stream was idle for too long.",
  transcription_failed: "One utterance could not be transcribed; the stream goes on.",
  not_found: "The API has no such route (is the base URL right?).",
  network_error: "The API could not be reached (check the base URL; another origin needs CORS).",
  internal_error: "The platform hit an internal error.",
  rate_limited: "Too many requests; slow down and try again.",
};

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.details = details;
  }
  get words() {
    return WORDS[this.code] || "The request failed.";
  }
}

export function describeError(err) {
  if (err instanceof ApiError) {
    const reasons = err.details && Array.isArray(err.details.reasons)
      ? ` Reasons: ${err.details.reasons.map(reasonWords).join("; ")}.` : "";
    return `${err.words}${reasons} (${err.code}${err.status ? ", HTTP " + err.status : ""}: ${err.message})`;
  }
  return String(err && err.message ? err.message : err);
}

const REASONS = {
  too_short: "too short", no_speech: "no speech found", too_noisy: "too noisy", clipped: "clipped (too loud)",
  too_quiet: "too quiet", short_speech: "little speech", noisy: "some noise", some_clipping: "some clipping",
  quiet: "rather quiet", low_sample_rate: "low sample rate", multiple_speakers: "more than one voice suspected",
};
export function reasonWords(code) {
  return REASONS[code] ? `${REASONS[code]} (${code})` : code;
}

// One request. `body` is FormData or a plain object (sent as JSON). Returns the parsed body, or
// the raw Response when `raw` is set (exports).
export async function api(method, path, { body, raw = false, headers = {} } = {}) {
  if (!config.base) throw new ApiError(0, "network_error", "no API base URL is set");
  const init = { method, headers: { ...headers } };
  if (config.key) init.headers["Authorization"] = `Bearer ${config.key}`;
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(config.base + path, init);
  } catch (exc) {
    throw new ApiError(0, "network_error", String(exc.message || exc));
  }
  if (!resp.ok) {
    let payload = null;
    try { payload = await resp.json(); } catch { /* not JSON: keep the status */ }
    const e = payload && payload.error;
    throw new ApiError(resp.status, e ? e.code : `http_${resp.status}`,
                       e ? e.message : resp.statusText, e ? e.details : undefined);
  }
  if (raw) return resp;
  if (resp.status === 204) return null;
  return resp.json();
}
