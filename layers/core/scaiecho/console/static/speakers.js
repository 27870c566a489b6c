// Speakers: the tenant's list (paginated), one speaker's details, warm nodes, consent evidence,
// adding a sample, and erasure with its audit.
import { api, ApiError, describeError } from "./api.js";
import { AudioInput } from "./audio.js";
import { clear, errorBox, h } from "./dom.js";

const PAGE = 10;

export function initSpeakers() {
  const body = document.getElementById("speakers-body");
  const status = document.getElementById("speakers-status");
  const detail = document.getElementById("speaker-detail");
  const next = document.getElementById("speakers-next");
  const first = document.getElementById("speakers-first");
  let cursor = null;       // the cursor of the page on screen
  let nextCursor = null;

  async function load(at = cursor) {
    status.textContent = "Loading…";
    try {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (at) q.set("cursor", at);
      const page = await api("GET", `/speakers?${q}`);
      cursor = at;
      nextCursor = page.next_cursor;
      clear(body, page.data.length ? page.data.map(row) : h("tr", {}, h("td", { colspan: "6" }, "No speakers enrolled yet.")));
      next.disabled = !nextCursor;
      first.disabled = !cursor;
      status.textContent = `${page.data.length} speaker(s) on this page.`;
    } catch (exc) {
      status.textContent = "";
      clear(body, h("tr", {}, h("td", { colspan: "6" }, errorBox(describeError(exc)))));
    }
  }

  function row(s) {
    return h("tr", { "data-speaker-id": s.speaker_id },
      h("th", { scope: "row" }, s.display_name || "(no name)", h("br"), h("small", { class: "mono" }, s.speaker_id)),
      h("td", {}, h("span", { class: `badge status-${s.enrollment_status}` }, s.enrollment_status)),
      h("td", {}, `${s.total_speech_s} s`),
      h("td", {}, (s.enrolled_on || []).join(", ") || "–"),
      h("td", {}, new Date(s.created_at).toLocaleString()),
      h("td", {}, h("button", { type: "button", onclick: () => open(s.speaker_id),
        "aria-label": `Open ${s.display_name || s.speaker_id}` }, "Open")));
  }

  async function open(id) {
    detail.hidden = false;
    clear(detail, h("p", {}, "Loading…"));
    try {
      const [{ data: s }, warm] = await Promise.all([
        api("GET", `/speakers/${encodeURIComponent(id)}`),
        api("GET", `/speakers/${encodeURIComponent(id)}/warm`).then((r) => r.data).catch((exc) => exc),
      ]);
      render(s, warm);
      detail.focus();
    } catch (exc) {
      clear(detail, errorBox(describeError(exc)));
    }
  }

  function render(s, warm) {
    const consentBox = h("div", { class: "consent-evidence" }, h("p", {}, "Loading consent evidence…"));
    const sampleBox = h("div", { class: "audio-input", "data-label": "additional sample" });
    const sampleResult = h("div", { role: "status", "aria-live": "polite" });
    const eraseBox = h("div", { class: "erase", role: "status", "aria-live": "polite" });
    const warmList = warm instanceof Error
      ? errorBox(describeError(warm))
      : h("dl", { class: "kv" },
          h("dt", {}, "Warm on"), h("dd", { "data-testid": "warm-nodes" }, warm.warm_node_ids.join(", ") || "none"),
          h("dt", {}, "Online nodes"), h("dd", {}, warm.candidate_node_ids.join(", ") || "none"),
          warm.stale_node_ids.length ? [h("dt", {}, "Stale"), h("dd", {}, warm.stale_node_ids.join(", "))] : null);
    const rewarm = h("button", { type: "button", onclick: async () => {
      rewarm.disabled = true;
      try {
        await api("POST", `/speakers/${encodeURIComponent(s.speaker_id)}/warm`, { body: { node_ids: [] } });
        await open(s.speaker_id);
      } catch (exc) { clear(sampleResult, errorBox(describeError(exc))); rewarm.disabled = false; }
    } }, "Warm on every online node");

    clear(detail,
      h("h3", {}, s.display_name || s.speaker_id),
      h("div", { class: "grid2" },
        h("section", { "aria-label": "Profile" },
          h("dl", { class: "kv" },
            h("dt", {}, "Speaker id"), h("dd", { class: "mono" }, s.speaker_id),
            h("dt", {}, "Status"), h("dd", {}, s.enrollment_status),
            h("dt", {}, "Language"), h("dd", {}, s.language_primary || "–"),
            h("dt", {}, "Description"), h("dd", {}, s.description || "–"),
            h("dt", {}, "External id"), h("dd", {}, s.external_id || "–"),
            h("dt", {}, "Samples"), h("dd", {}, `${s.samples.length}, ${s.total_speech_s} s of speech`
              + (s.enrollment_complete ? " (complete)" : "")),
            h("dt", {}, "Quality"), h("dd", {}, s.enrollment_quality || "–")),
          h("h4", {}, "Nodes"), warmList, rewarm),
        h("section", { "aria-label": "Consent evidence" }, h("h4", {}, "Consent evidence"), consentBox)),
      h("h4", {}, "Add a sample"), sampleBox, sampleResult,
      h("h4", {}, "Erase this speaker"),
      h("p", { class: "hint" }, "Deletes every recording, the consent record and the voiceprints, and evicts the voice from every node. This cannot be undone."),
      h("button", { type: "button", class: "danger", onclick: () => confirmErase(s, eraseBox) }, "Erase…"),
      eraseBox);

    new AudioInput(sampleBox, { maxSeconds: 60, onChange: async (value) => {
      const form = new FormData();
      form.append("reference", value.blob, value.name);
      clear(sampleResult, h("p", {}, "Adding the sample…"));
      try {
        const { data } = await api("POST", `/speakers/${encodeURIComponent(s.speaker_id)}/samples`, { body: form });
        clear(sampleResult, h("p", { class: "ok" }, `Sample added: ${data.total_speech_s} s of speech in total`
          + (data.enrollment_complete ? " — enrollment complete." : ".")));
      } catch (exc) { clear(sampleResult, errorBox(describeError(exc))); }
    } });
    loadConsent(s, consentBox);
  }

  // The consent record's evidence comes from GET /speakers/{id}/consent where the API has it;
  // an API without that route still shows what the profile says about the consent.
  async function loadConsent(s, box) {
    try {
      const { data } = await api("GET", `/speakers/${encodeURIComponent(s.speaker_id)}/consent`);
      const c = Array.isArray(data) ? data[0] : data;
      const label = (k) => k === "consent_id" ? "Consent id" : k.replace(/_/g, " ");
      // nested records (the voice and text checks) show as "voice check score" and so on
      const flat = Object.entries(c).flatMap(([k, v]) => v && typeof v === "object" && !Array.isArray(v)
        ? Object.entries(v).map(([k2, v2]) => [`${k}_${k2}`, v2]) : [[k, v]]);
      const shown = flat.filter(([k, v]) =>
        v !== null && typeof v !== "object" && !k.startsWith("audio_url"));
      clear(box,
        h("dl", { class: "kv" }, shown.map(([k, v]) => [h("dt", {}, label(k)), h("dd", {}, String(v))])),
        c.audio_url ? h("p", {}, h("a", { href: c.audio_url, target: "_blank", rel: "noopener" },
          "Download the consent recording"),
          ` (link valid ${c.audio_url_expires_in_s || 300} s)`) : null);
    } catch (exc) {
      const missing = exc instanceof ApiError && exc.status === 404;
      clear(box,
        h("dl", { class: "kv" },
          h("dt", {}, "Consent id"), h("dd", { class: "mono" }, s.consent?.consent_id || "–"),
          h("dt", {}, "Consent version"), h("dd", {}, s.consent?.consent_version || "–")),
        h("p", { class: "hint" }, missing
          ? "This API does not serve the consent record itself (no GET /speakers/{id}/consent); the immutable record is kept with the speaker."
          : describeError(exc)));
    }
  }

  function confirmErase(s, box) {
    const yes = h("button", { type: "button", class: "danger", onclick: () => erase(s, box) },
      `Yes, erase ${s.display_name || s.speaker_id}`);
    clear(box, h("p", {}, "Erase permanently? "), yes,
      h("button", { type: "button", onclick: () => clear(box) }, "Cancel"));
    yes.focus();
  }

  async function erase(s, box) {
    clear(box, h("p", {}, "Erasing…"));
    try {
      const { data: report } = await api("DELETE", `/speakers/${encodeURIComponent(s.speaker_id)}`);
      let audit = null;
      try { audit = (await api("GET", `/erasures/${encodeURIComponent(report.audit_id)}`)).data; } catch { /* the report is enough */ }
      // The profile is gone: the panel keeps only what the erasure did.
      clear(detail, h("h3", {}, `${s.display_name || s.speaker_id}: erased`), auditView(report, audit));
      detail.focus();
      load(cursor);
    } catch (exc) {
      clear(box, errorBox(describeError(exc)));
    }
  }

  next.addEventListener("click", () => load(nextCursor));
  first.addEventListener("click", () => load(null));
  document.getElementById("speakers-refresh").addEventListener("click", () => load(cursor));
  return { load: () => load(cursor) };
}

function auditView(report, audit) {
  const events = audit?.events || [];
  return h("div", { class: report.status === "complete" ? "ok" : "warn", "data-testid": "erasure-audit" },
    h("p", {}, h("strong", {}, "Erasure "), h("span", { "data-testid": "erasure-status" }, report.status),
      report.repeated ? " (already erased before)" : ""),
    h("dl", { class: "kv" },
      h("dt", {}, "Audit id"), h("dd", { class: "mono", "data-testid": "erasure-audit-id" }, report.audit_id),
      h("dt", {}, "Audio deleted"), h("dd", {}, `${report.blob_versions_deleted} object version(s), ${report.blob_bytes_deleted} bytes`),
      h("dt", {}, "Nodes"), h("dd", {}, report.nodes.map((n) => `${n.node_id}: ${n.status}${n.error ? " (" + n.error + ")" : ""}`).join(", ") || "none"),
      report.error_summary?.length ? [h("dt", {}, "Problems"), h("dd", {}, report.error_summary.join("; "))] : null),
    events.length ? h("details", { open: true }, h("summary", {}, `Audit trail (${events.length} events)`),
      h("ol", { class: "events" }, events.map((e) => h("li", {},
        `${new Date(e.at).toLocaleTimeString()} ${e.kind}`
        + (e.node_id ? ` ${e.node_id}` : "") + (e.status ? ` ${e.status}` : "")
        + (e.count !== undefined ? ` ×${e.count}` : "") + (e.error ? ` — ${e.error}` : ""))))) : null);
}
