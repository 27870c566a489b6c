// The console's shell: settings (API base URL, key), screen switching by URL hash.
import { api, config, describeError, saveConfig, streamUrl } from "./api.js";
import { initEnroll } from "./enroll.js";
import { initLive } from "./live.js";
import { initSpeakers } from "./speakers.js";
import { initTranscribe } from "./transcribe.js";

const SCREENS = ["enroll", "speakers", "transcribe", "live"];

async function whoami() {
  const out = document.getElementById("whoami");
  if (!config.key) { out.textContent = "Paste an API key to start."; return; }
  try {
    const { data } = await api("GET", "/keys/me");
    out.textContent = `Connected: tenant ${data.tenant_id}, scopes ${data.scopes.join(", ")}.`;
    out.className = "whoami ok";
  } catch (exc) {
    out.textContent = describeError(exc);
    out.className = "whoami bad";
  }
}

function show(hooks) {
  const name = SCREENS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "enroll";
  for (const s of SCREENS) document.getElementById(`screen-${s}`).hidden = s !== name;
  for (const a of document.querySelectorAll(".tabs a")) {
    if (a.dataset.screen === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (hooks[name]) hooks[name]();
}

function init() {
  const base = document.getElementById("api-base");
  const key = document.getElementById("api-key");
  const stream = document.getElementById("stream-url");
  base.value = config.base;
  key.value = config.key;
  stream.value = config.streamUrl || streamUrl();
  document.getElementById("settings").addEventListener("submit", (e) => {
    e.preventDefault();
    // The stream URL follows the API base unless someone typed another one (AWS: StreamUrl).
    const derived = streamUrl();
    saveConfig(base.value.trim(), key.value.trim());
    if (!stream.value || stream.value === derived) stream.value = streamUrl();
    whoami();
    show(hooks);
  });
  stream.addEventListener("change", () => {
    const typed = stream.value.trim();
    saveConfig(config.base, config.key, typed === streamUrl() ? "" : typed);
  });

  initEnroll();
  const speakers = initSpeakers();
  initTranscribe();
  initLive();
  const hooks = { speakers: () => config.key && speakers.load() };
  window.addEventListener("hashchange", () => { show(hooks); document.getElementById("main").focus(); });
  show(hooks);
  whoami();
}

init();
