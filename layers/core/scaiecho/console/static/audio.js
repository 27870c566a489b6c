// Microphone capture. Recordings (enrollment) go through MediaRecorder and are re-encoded as
// 16 kHz mono 16-bit WAV, because browsers record WebM/Opus, which the API does not accept.
// Live streaming uses an AudioWorklet that yields 16 kHz float frames, sent as 16-bit PCM.

export const RATE = 16000;

export function wavFromSamples(samples, rate = RATE) {
  const out = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, s) => { for (let i = 0; i < s.length; i++) out.setUint8(offset + i, s.charCodeAt(i)); };
  text(0, "RIFF"); out.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); out.setUint32(16, 16, true); out.setUint16(20, 1, true); out.setUint16(22, 1, true);
  out.setUint32(24, rate, true); out.setUint32(28, rate * 2, true); out.setUint16(32, 2, true);
  out.setUint16(34, 16, true); text(36, "data"); out.setUint32(40, samples.length * 2, true);
  const pcm = toPcm16(samples);
  new Int16Array(out.buffer, 44).set(pcm);
  return new Blob([out.buffer], { type: "audio/wav" });
}

export function toPcm16(samples) {
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    pcm[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
  }
  return pcm;
}

// Any recording the browser can decode → 16 kHz mono WAV (decodeAudioData resamples to the
// context's rate; channels are averaged).
async function toWav(blob) {
  const ctx = new OfflineAudioContext(1, 1, RATE);
  const buffer = await ctx.decodeAudioData(await blob.arrayBuffer());
  const mono = new Float32Array(buffer.length);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const data = buffer.getChannelData(c);
    for (let i = 0; i < data.length; i++) mono[i] += data[i] / buffer.numberOfChannels;
  }
  return { blob: wavFromSamples(mono), seconds: buffer.length / RATE };
}

function micConstraints() {
  // Processing made for calls (noise suppression, AGC) changes a voiceprint: ask for raw audio.
  return { audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } };
}

let seq = 0;

// A "record or choose a file" control. `onChange({blob, name, seconds})` fires with the audio.
export class AudioInput {
  constructor(host, { maxSeconds = 60, onChange = () => {} } = {}) {
    this.host = host;
    this.onChange = onChange;
    this.maxSeconds = maxSeconds;
    this.value = null;
    const id = `ai${++seq}`;
    const label = host.dataset.label || "recording";
    host.innerHTML = `
      <div class="toolbar">
        <button type="button" class="rec" aria-describedby="${id}-state">● Record</button>
        <button type="button" class="stop" disabled>■ Stop</button>
        <label class="file">or choose a file <input type="file" accept=".wav,.mp3,.flac,.ogg,.m4a,audio/*"></label>
      </div>
      <p id="${id}-state" class="state" role="status" aria-live="polite">No ${label} yet.</p>
      <audio controls hidden aria-label="Play back the ${label}"></audio>`;
    this.recBtn = host.querySelector(".rec");
    this.stopBtn = host.querySelector(".stop");
    this.state = host.querySelector(".state");
    this.player = host.querySelector("audio");
    this.fileInput = host.querySelector("input[type=file]");
    this.label = label;
    this.recBtn.addEventListener("click", () => this.record());
    this.stopBtn.addEventListener("click", () => this.stop());
    this.fileInput.addEventListener("change", () => {
      const file = this.fileInput.files[0];
      if (file) this.set({ blob: file, name: file.name, seconds: null }, `File: ${file.name}`);
    });
  }

  async record() {
    if (!window.MediaRecorder || !navigator.mediaDevices) {
      this.state.textContent = "This browser cannot record; choose a file instead.";
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(micConstraints());
    } catch (exc) {
      this.state.textContent = `The microphone is not available (${exc.name}); choose a file instead.`;
      return;
    }
    const chunks = [];
    this.recorder = new MediaRecorder(stream);
    this.recorder.addEventListener("dataavailable", (e) => { if (e.data.size) chunks.push(e.data); });
    this.recorder.addEventListener("stop", async () => {
      stream.getTracks().forEach((t) => t.stop());
      clearInterval(this.timer);
      this.recBtn.disabled = false;
      this.stopBtn.disabled = true;
      this.state.textContent = "Converting the recording…";
      try {
        const wav = await toWav(new Blob(chunks, { type: this.recorder.mimeType }));
        this.set({ blob: wav.blob, name: `${this.label.replace(/\W+/g, "-")}.wav`, seconds: wav.seconds },
                 `Recorded ${wav.seconds.toFixed(1)} s.`);
      } catch (exc) {
        this.state.textContent = `The recording could not be converted (${exc.message}); choose a file instead.`;
      }
    });
    this.recorder.start(250);
    this.recBtn.disabled = true;
    this.stopBtn.disabled = false;
    this.stopBtn.focus();
    const started = performance.now();
    const tick = () => {
      const s = (performance.now() - started) / 1000;
      this.state.textContent = `Recording… ${s.toFixed(0)} s (stops by itself at ${this.maxSeconds} s)`;
      if (s >= this.maxSeconds) this.stop();
    };
    tick();
    this.timer = setInterval(tick, 500);
  }

  stop() {
    if (this.recorder && this.recorder.state === "recording") this.recorder.stop();
  }

  set(value, message) {
    this.value = value;
    this.state.textContent = message;
    if (this.player.src) URL.revokeObjectURL(this.player.src);
    this.player.src = URL.createObjectURL(value.blob);
    this.player.hidden = false;
    this.onChange(value);
  }
}

// Live capture: calls onFrame(Int16Array) every 100 ms of 16 kHz mono audio, onLevel(rms).
export async function startPcmCapture(onFrame, onLevel = () => {}) {
  const stream = await navigator.mediaDevices.getUserMedia(micConstraints());
  // A 16 kHz context makes the browser resample the microphone for us.
  const ctx = new AudioContext({ sampleRate: RATE });
  await ctx.audioWorklet.addModule(new URL("./pcm-worklet.js", import.meta.url));
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "pcm-capture");
  node.port.onmessage = (e) => {
    const frame = e.data;
    let sum = 0;
    for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
    if (frame.length) onLevel(Math.min(1, Math.sqrt(sum / frame.length) * 4));
    onFrame(toPcm16(frame));
  };
  source.connect(node);
  // The worklet must be pulled by the graph; a muted gain keeps it running without echo.
  const mute = ctx.createGain();
  mute.gain.value = 0;
  node.connect(mute).connect(ctx.destination);
  return {
    sampleRate: ctx.sampleRate,
    async stop() {
      node.port.onmessage = null;
      stream.getTracks().forEach((t) => t.stop());
      await ctx.close();
    },
  };
}
