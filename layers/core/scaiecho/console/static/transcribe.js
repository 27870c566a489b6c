// Transcribe: submit a job, poll its progress per step, then the who-spoke-when timeline (one
// lane per speaker, from the diarized `turns`) beside the transcript (from `segments`).
import { api, describeError } from "./api.js";
import { clear, colourFor, errorBox, h, seconds } from "./dom.js";

const STEPS = ["fetch", "asr", "diarization", "merge"];
const STEP_NAMES = { fetch: "download", asr: "speech to text", diarization: "who spoke when", merge: "merge" };

export function initTranscribe() {
  const form = document.getElementById("transcribe-form");
  const statusBox = document.getElementById("job-status");
  const resultBox = document.getElementById("job-result");
  const submit = document.getElementById("job-submit");
  let jobId = null;
  let timer = null;

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = form.elements.audio.files[0];
    const url = form.elements.audio_url.value.trim();
    if (!file && !url) {
      clear(statusBox, errorBox("Choose a recording or give a URL."));
      return;
    }
    const diarize = form.elements.diarize.checked;
    const language = form.elements.language.value.trim();
    const cfg = {};
    if (form.elements.min_speakers.value) cfg.min_speakers = Number(form.elements.min_speakers.value);
    if (form.elements.max_speakers.value) cfg.max_speakers = Number(form.elements.max_speakers.value);
    let body;
    if (file) {
      body = new FormData();
      body.append("audio", file, file.name);
      body.append("diarize", String(diarize));
      if (language) body.append("language", language);
      if (diarize && Object.keys(cfg).length) body.append("diarization_config", JSON.stringify(cfg));
    } else {
      body = { audio_urls: [url], diarize };
      if (language) body.language = language;
      if (diarize && Object.keys(cfg).length) body.diarization_config = cfg;
    }
    clearTimeout(timer);
    resultBox.hidden = true;
    submit.disabled = true;
    clear(statusBox, h("p", {}, "Uploading…"));
    try {
      const { data } = await api("POST", "/transcribe", { body });
      jobId = data.job_id;
      poll();
    } catch (exc) {
      clear(statusBox, errorBox(describeError(exc)));
      submit.disabled = false;
    }
  });

  async function poll() {
    let job;
    try {
      job = (await api("GET", `/transcribe/${encodeURIComponent(jobId)}`)).data;
    } catch (exc) {
      clear(statusBox, errorBox(describeError(exc)));
      submit.disabled = false;
      return;
    }
    clear(statusBox, progressView(job));
    if (job.status === "COMPLETED") {
      submit.disabled = false;
      showResult(job);
    } else if (job.status === "FAILED") {
      submit.disabled = false;
      statusBox.append(errorBox(`The job failed: ${job.error?.message || ""} (${job.error?.code || "job_failed"})`));
    } else {
      timer = setTimeout(poll, 1500);
    }
  }

  function showResult(job) {
    resultBox.hidden = false;
    renderTimeline(document.getElementById("timeline"), job);
    renderTranscript(document.getElementById("transcript"), job);
  }

  document.getElementById("job-downloads").addEventListener("click", async (e) => {
    const fmt = e.target.dataset?.format;
    if (!fmt || !jobId) return;
    try {
      // A plain link cannot carry the Authorization header: fetch, then save the blob.
      const resp = await api("GET", `/transcribe/${encodeURIComponent(jobId)}?format=${fmt}`, { raw: true });
      const blob = await resp.blob();
      const a = h("a", { href: URL.createObjectURL(blob), download: `${jobId}.${fmt}` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (exc) {
      statusBox.append(errorBox(describeError(exc)));
    }
  });
}

function progressView(job) {
  const progress = job.progress || {};
  const done = job.status === "COMPLETED";
  return h("div", {},
    h("p", {}, "Job ", h("span", { class: "mono", "data-testid": "job-id" }, job.job_id), ": ",
      h("strong", { "data-testid": "job-state" }, job.status)),
    h("ol", { class: "steps", "aria-label": "Progress per step" }, STEPS
      .filter((s) => s !== "diarization" || job.request?.diarize !== false)
      .filter((s) => s !== "fetch" || job.audio_url) // only a remote URL is downloaded by the job
      .map((s) => {
        const state = done ? "done" : progress[s] || "waiting";
        return h("li", { class: `step step-${state}` }, `${STEP_NAMES[s]}: ${state}`);
      })),
    (job.warnings || []).length ? h("p", { class: "warn" }, "Warnings: ", job.warnings.join("; ")) : null);
}

// label → what a person should read: the enrolled name where the voice matched, else the label.
function speakerNames(job) {
  const names = new Map();
  for (const seg of job.segments || []) {
    if (seg.speaker && seg.speaker_name && !names.has(seg.speaker)) names.set(seg.speaker, seg.speaker_name);
  }
  return names;
}

function renderTimeline(box, job) {
  const names = speakerNames(job);
  const turns = (job.turns && job.turns.length ? job.turns
    : (job.segments || []).filter((s) => s.speaker)).map((t) => ({ start: Number(t.start_time), end: Number(t.end_time), speaker: t.speaker }));
  const duration = Math.max(job.duration || 0, ...turns.map((t) => t.end), 0.001);
  const labels = job.speakers?.labels?.length ? job.speakers.labels : [...new Set(turns.map((t) => t.speaker))];
  if (!labels.length) {
    clear(box, h("p", { class: "hint" }, "No speakers: the job ran without diarization, or it found none."));
    return;
  }
  const ticks = [];
  // about ten ticks, on round numbers of seconds
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800].find((s) => duration / s <= 10) || 3600;
  for (let t = 0; t <= duration; t += step) ticks.push(t);
  clear(box,
    h("div", { class: "axis", "aria-hidden": "true" }, ticks.map((t) =>
      h("span", { style: { left: `${(100 * t / duration).toFixed(3)}%` } }, seconds(t).replace(/\.\d$/, "")))),
    labels.map((label) => {
      const mine = turns.filter((t) => t.speaker === label);
      const name = names.get(label);
      const talk = mine.reduce((a, t) => a + (t.end - t.start), 0);
      return h("div", { class: "lane", role: "group", "aria-label": `${name || label}: ${mine.length} turns, ${talk.toFixed(1)} s`,
                         "data-speaker": label },
        h("div", { class: "lane-name" }, h("span", { class: "swatch", style: { background: colourFor(label) } }),
          h("span", { class: "lane-title", "data-testid": "lane-name" }, name || label),
          name ? h("small", {}, label) : null),
        h("div", { class: "lane-track" }, mine.map((t) => h("span", {
          class: "turn", style: { left: `${(100 * t.start / duration).toFixed(3)}%`,
            width: `${Math.max(0.2, 100 * (t.end - t.start) / duration).toFixed(3)}%`, background: colourFor(label) },
          title: `${name || label}: ${seconds(t.start)}–${seconds(t.end)}` }))));
    }),
    h("p", { class: "hint" }, `${labels.length} speaker(s) over ${seconds(duration)}.`));
}

function renderTranscript(list, job) {
  const speech = (job.segments || []).filter((s) => s.type !== "silence" && s.text);
  clear(list, speech.length ? speech.map((s) => {
    const who = s.speaker_name || s.speaker;
    return h("li", { "data-speaker": s.speaker || "" },
      h("span", { class: "time" }, `${seconds(Number(s.start_time))}–${seconds(Number(s.end_time))}`),
      who ? h("span", { class: "who", style: { borderColor: colourFor(s.speaker) } }, who) : null,
      h("span", { class: "text" }, s.text));
  }) : h("li", {}, "No speech was transcribed."));
}
