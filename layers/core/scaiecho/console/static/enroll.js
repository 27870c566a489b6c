// Enroll: consent wording to read aloud, two recordings, preflight first, then POST /speakers.
import { api, describeError, reasonWords } from "./api.js";
import { AudioInput } from "./audio.js";
import { clear, errorBox, h } from "./dom.js";

function consentWording(name, purpose) {
  return `I, ${name || "[full name]"}, agree that ScaiEcho may record my voice and store a voiceprint ` +
    `of it in order to ${purpose || "[purpose]"}. I understand that I can ask for my voice data to be ` +
    `erased at any time.`;
}

function preflightView(report) {
  const ok = report.passed;
  const m = report.metrics || {};
  return h("div", { class: ok ? "ok" : "bad" },
    h("p", {}, h("strong", {}, ok ? "Quality check passed" : "Quality check failed"),
      ` — grade: `, h("span", { class: `grade grade-${report.grade}`, "data-testid": "preflight-grade" }, report.grade)),
    report.reasons.length ? h("p", {}, "Problems: ", report.reasons.map(reasonWords).join("; ")) : null,
    report.warnings.length ? h("p", {}, "Warnings: ", report.warnings.map(reasonWords).join("; ")) : null,
    h("p", { class: "metrics" }, [
      // a measure the server could not take (e.g. SNR without speech) comes back as null: leave it out
      m.duration_s != null && `${m.duration_s} s long`, m.speech_s != null && `${m.speech_s} s of speech`,
      m.snr_db != null && `SNR ${m.snr_db} dB`, m.loudness_dbfs != null && `loudness ${m.loudness_dbfs} dBFS`,
    ].filter(Boolean).join(", ")));
}

export function resultView(data) {
  const status = data.enrollment_status;
  return h("div", { class: status === "ready" ? "ok" : status === "failed" ? "bad" : "warn" },
    h("p", {}, h("strong", {}, `${data.display_name}: `),
      h("span", { "data-testid": "enroll-status" }, status)),
    h("dl", { class: "kv" },
      h("dt", {}, "Speaker id"), h("dd", { "data-testid": "enroll-speaker-id" }, data.speaker_id),
      h("dt", {}, "Enrolled on nodes"), h("dd", {}, (data.enrolled_on || []).join(", ") || "none yet"),
      h("dt", {}, "Speech in samples"), h("dd", {}, `${data.total_speech_s} s`
        + (data.enrollment_complete ? " (complete)" : " (add samples for a stronger voiceprint)")),
      h("dt", {}, "Consent"), h("dd", {}, `${data.consent?.consent_id || "?"} (version ${data.consent?.consent_version || "?"})`),
      data.preflight?.warnings?.length
        ? [h("dt", {}, "Warnings"), h("dd", {}, data.preflight.warnings.map(reasonWords).join("; "))] : null,
      data.note ? [h("dt", {}, "Note"), h("dd", {}, data.note)] : null));
}

export function initEnroll() {
  const form = document.getElementById("enroll-form");
  const read = document.getElementById("consent-read");
  const text = form.elements.consent_text;
  const submit = document.getElementById("enroll-submit");
  const ready = document.getElementById("enroll-ready");
  const preflightBox = document.getElementById("preflight");
  const result = document.getElementById("enroll-result");
  let edited = false;
  let preflight = null;

  const refreshWording = () => {
    if (!edited) text.value = consentWording(form.elements.consent_user_full_name.value.trim(),
                                             form.elements.consent_stated_purpose.value.trim());
    read.textContent = text.value;
  };
  text.addEventListener("input", () => { edited = true; read.textContent = text.value; });
  form.elements.consent_user_full_name.addEventListener("input", refreshWording);
  form.elements.consent_stated_purpose.addEventListener("input", refreshWording);
  form.elements.display_name.addEventListener("change", () => {
    if (!form.elements.consent_user_full_name.value) {
      form.elements.consent_user_full_name.value = form.elements.display_name.value;
      refreshWording();
    }
  });
  refreshWording();

  const update = () => {
    const missing = [];
    if (!reference.value) missing.push("the reference recording");
    if (!consent.value) missing.push("the consent recording");
    if (preflight && !preflight.passed) missing.push("a reference that passes the quality check");
    submit.disabled = missing.length > 0;
    ready.textContent = missing.length ? `Still needed: ${missing.join(", ")}.` : "Ready to enroll.";
  };

  const consent = new AudioInput(document.getElementById("consent-audio"), { maxSeconds: 30, onChange: update });
  const reference = new AudioInput(document.getElementById("reference-audio"), {
    maxSeconds: 60,
    onChange: async (value) => {
      preflight = null;
      update();
      clear(preflightBox, h("p", {}, "Checking the quality…"));
      const body = new FormData();
      body.append("audio", value.blob, value.name);
      try {
        preflight = (await api("POST", "/preflight", { body })).data;
        clear(preflightBox, preflightView(preflight));
      } catch (exc) {
        clear(preflightBox, errorBox(describeError(exc)));
      }
      update();
    },
  });
  update();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fields = ["display_name", "consent_user_full_name", "consent_stated_purpose", "language_primary"];
    const empty = fields.filter((f) => !form.elements[f].value.trim());
    if (empty.length) {
      clear(result, errorBox(`Please fill in: ${empty.map((f) => form.elements[f].closest("label").firstChild.textContent.trim()).join(", ")}.`));
      form.elements[empty[0]].focus();
      return;
    }
    const body = new FormData();
    for (const f of [...fields, "description", "external_id", "consent_text"]) {
      const v = form.elements[f].value.trim();
      if (v) body.append(f, v);
    }
    body.append("reference", reference.value.blob, reference.value.name);
    body.append("consent", consent.value.blob, consent.value.name);
    submit.disabled = true;
    clear(result, h("p", {}, "Enrolling: storing the recordings and the consent, then sending the voiceprint to the nodes…"));
    try {
      const { data } = await api("POST", "/speakers", { body });
      clear(result, resultView(data));
    } catch (exc) {
      clear(result, errorBox(describeError(exc)));
    }
    update();
  });
}
