// Live: the microphone over the WebSocket (docs/streaming.md). Browsers cannot set headers on a
// WebSocket, so the key goes in the `api_key` query parameter; audio goes as 16-bit PCM.
import { config, streamUrl } from "./api.js";
import { startPcmCapture } from "./audio.js";
import { colourFor, h, seconds } from "./dom.js";

const WORDS = {
  unauthenticated: "The API key was refused.", insufficient_scope: "This key may not stream (or label speakers).",
  backend_unavailable: "No node is online to transcribe.", idle_timeout: "The stream was idle for too long.",
  frame_too_large: "An audio frame was too large.", unsupported_language: "The speech model cannot do that language.",
  transcription_failed: "One utterance could not be transcribed; the stream goes on.",
};

export function initLive() {
  const form = document.getElementById("live-form");
  const urlInput = document.getElementById("stream-url");
  const startBtn = document.getElementById("live-start");
  const stopBtn = document.getElementById("live-stop");
  const status = document.getElementById("live-status");
  const level = document.getElementById("live-level");
  const list = document.getElementById("live-deltas");
  let ws = null;
  let capture = null;

  const say = (text) => { status.textContent = text; };

  async function stopCapture() {
    if (capture) { const c = capture; capture = null; await c.stop(); }
    level.value = 0;
  }

  async function finish(message) {
    await stopCapture();
    startBtn.disabled = false;
    stopBtn.disabled = true;
    if (message) say(message);
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const base = urlInput.value.trim() || streamUrl();
    if (!base) { say("Set the stream URL first."); return; }
    if (!config.key) { say("Paste an API key above first."); return; }
    const encoding = document.getElementById("live-encoding").value;
    // API Gateway WebSocket APIs carry text frames only: base64 JSON there, raw bytes locally.
    const base64 = encoding === "base64" || (encoding === "auto" && /amazonaws\.com/.test(base));
    const url = new URL(base);
    url.searchParams.set("api_key", config.key);
    startBtn.disabled = true;
    stopBtn.disabled = false;
    clear();
    // The microphone starts within the click (browsers start audio only on a user gesture);
    // what is said before the server is ready is queued (up to 5 s), not lost.
    let ready = false;
    const queued = [];
    const send = (pcm) => {
      if (base64) ws.send(JSON.stringify({ type: "audio", data: b64(pcm) }));
      else ws.send(pcm.buffer);
    };
    say("Starting the microphone…");
    try {
      capture = await startPcmCapture((pcm) => {
        if (ready && ws.readyState === WebSocket.OPEN) send(pcm);
        else if (!ready && queued.length < 50) queued.push(pcm);
      }, (rms) => { level.value = rms; });
    } catch (exc) {
      await finish(`The microphone is not available (${exc.name || exc.message}).`);
      return;
    }
    say("Connecting…");
    ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "open", media_type: "audio/pcm", sample_rate: capture.sampleRate,
        diarize: document.getElementById("live-diarize").checked,
        language_hint: document.getElementById("live-language").value.trim() || null }));
    };
    ws.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "ready") {
        ready = true;
        queued.splice(0).forEach(send);
        say(`Connected (backend ${frame.backend_used}). Speak: each utterance appears after a short pause.`);
      } else if (frame.type === "delta") {
        addDelta(frame);
      } else if (frame.type === "error") {
        list.append(h("li", { class: "error", role: "alert" },
          `${WORDS[frame.code] || "Error"} (${frame.code}: ${frame.message})`));
      } else if (frame.type === "closed") {
        finish("Stream closed.");
      }
    };
    ws.onerror = () => say("The stream connection failed (is the URL right, and the key allowed to stream?).");
    ws.onclose = (event) => {
      if (!/closed/.test(status.textContent)) {
        finish(ready ? "Disconnected." : `The server refused the stream (code ${event.code}).`);
      }
    };
  });

  stopBtn.addEventListener("click", async () => {
    stopBtn.disabled = true;
    await stopCapture();
    if (ws && ws.readyState === WebSocket.OPEN) {
      say("Finishing: the last utterance is being transcribed…");
      ws.send(JSON.stringify({ type: "close" }));
    } else {
      finish("Stopped.");
    }
  });

  function clear() { list.replaceChildren(); }

  function addDelta(d) {
    const label = d.speaker_label;
    const who = d.speaker_name || label;
    list.append(h("li", { class: "delta", "data-speaker-label": label || "" },
      h("span", { class: "time" }, `${seconds(d.start)}–${seconds(d.end)}`),
      who ? h("span", { class: "who", style: { borderColor: colourFor(label) }, "data-testid": "delta-speaker" }, who) : null,
      h("span", { class: "text" }, d.text),
      d.match_score !== undefined ? h("small", { class: "score" }, ` match ${(d.match_score * 100).toFixed(0)}%`) : null));
    list.lastElementChild.scrollIntoView({ block: "nearest" });
  }

}

function b64(pcm) {
  const bytes = new Uint8Array(pcm.buffer);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
