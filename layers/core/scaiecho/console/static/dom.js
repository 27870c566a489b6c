// A tiny element builder: text always goes in as text (API values are never parsed as HTML).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    // CSSOM, not a style attribute: the page's CSP (style-src 'self') blocks inline styles.
    else if (k === "style") Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function seconds(s) {
  if (s === null || s === undefined) return "–";
  const m = Math.floor(s / 60);
  const r = s - m * 60;
  return `${m}:${r.toFixed(1).padStart(4, "0")}`;
}

export function errorBox(text) {
  return h("p", { class: "error", role: "alert" }, text);
}

// A stable colour per speaker label, chosen from a palette that keeps 4.5:1 contrast with white text.
const PALETTE = ["#1f5fa8", "#a3352b", "#2f6b2f", "#6b3fa0", "#8a5a00", "#00707a", "#a0306e", "#4a4a4a"];
const assigned = new Map();
export function colourFor(label) {
  if (!assigned.has(label)) assigned.set(label, PALETTE[assigned.size % PALETTE.length]);
  return assigned.get(label);
}
