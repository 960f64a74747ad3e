// Small DOM and formatting helpers shared by every page.
import { logout, me } from "./api.js";

/** h("div.card", {onclick}, child, ...) builds an element; strings become text nodes. */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  if (attrs === null || typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className += (el.className ? " " : "") + v;
    else if (k === "style" && typeof v === "object") {
      for (const [prop, val] of Object.entries(v)) prop.startsWith("--") ? el.style.setProperty(prop, val) : (el.style[prop] = val);
    }
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVGNS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** Replaces an element's children, skipping null/false (conditional parts of a page). */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

// A few line icons (24x24, stroke): no icon font or image files to fetch.
const ICONS = {
  bell: "M6 8a6 6 0 1 1 12 0c0 7 3 9 3 9H3s3-2 3-9M10.3 21a1.94 1.94 0 0 0 3.4 0",
  "bell-off": "M8.7 3A6 6 0 0 1 18 8a21.3 21.3 0 0 0 .6 5M17 17H3s3-2 3-9a4.67 4.67 0 0 1 .3-1.7M10.3 21a1.94 1.94 0 0 0 3.4 0M2 2l20 20",
  camera: "M14.5 4h-5L7 7H4a2 2 0 0 0-2 2v9a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V9a2 2 0 0 0-2-2h-3l-2.5-3zM12 17a4 4 0 1 0 0-8 4 4 0 0 0 0 8z",
  back: "M15 18l-6-6 6-6",
};
export function icon(name) {
  return svg("svg", { class: "icon", viewBox: "0 0 24 24", fill: "none", stroke: "currentColor", "stroke-width": 2,
    "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true" }, svg("path", { d: ICONS[name] }));
}

// ---------- words ----------
export const SEVERITIES = ["critical", "major", "minor", "info"];
export const STATUSES = ["open", "dispatched", "acknowledged", "reopened", "resolved", "verified", "closed", "dismissed"];
export const OPEN_STATUSES = ["open", "dispatched", "acknowledged", "reopened", "resolved", "verified"];
export const TYPES = ["intrusion", "loitering", "line_crossing", "falling_object", "tamper.covered",
  "tamper.defocus", "tamper.moved", "stream.lost", "stream.restored", "motion", "camera_event",
  "sensor.alarm", "sensor.threshold", "sensor.offline", "sensor.battery_low"];
export const LEVELS = ["grid", "community", "street"];

const TYPE_LABELS = {
  intrusion: "Intrusion", loitering: "Loitering", line_crossing: "Line crossing",
  falling_object: "Falling object", "tamper.covered": "Camera covered", "tamper.defocus": "Camera defocused",
  "tamper.moved": "Camera moved", "stream.lost": "Stream lost", "stream.restored": "Stream restored",
  motion: "Motion", camera_event: "Camera event", "sensor.alarm": "Sensor alarm",
  "sensor.threshold": "Sensor threshold", "sensor.offline": "Sensor offline", "sensor.battery_low": "Low battery",
};
export const typeLabel = (t) => TYPE_LABELS[t] || (t || "").replace(/[._]/g, " ");

const ACTION_LABELS = {
  opened: "Opened", open: "Opened", dispatch: "Dispatch", dispatched: "Dispatched",
  acknowledge: "Acknowledge", acknowledged: "Acknowledged", resolve: "Resolve", resolved: "Resolved",
  verify: "Verify", verified: "Verified", close: "Close", closed: "Closed", reopen: "Reopen",
  reopened: "Reopened", dismiss: "Dismiss", dismissed: "Dismissed", escalate: "Escalate",
  escalated: "Escalated", extend: "Extend deadline", extended: "Deadline extended",
  reassign: "Reassign", reassigned: "Reassigned", merge: "Merge", merged: "Merged",
  alert_attached: "Alert attached", attached: "Alert attached",
};
export const actionLabel = (a) => ACTION_LABELS[a] || (a || "").replace(/_/g, " ");

export const sevBadge = (s) => h("span.badge.dot", { class: `sev-${s}` }, s || "—");
export const statusBadge = (s) => h("span.badge", { class: `st-${s}` }, s || "—");
export const levelBadge = (l) => h("span.badge.lvl", {}, l || "—");

export function incidentTitle(inc) {
  if (inc.title) return inc.title[0].toUpperCase() + inc.title.slice(1);
  return `${typeLabel(inc.type)} · ${inc.camera_id || inc.source_id || inc.grid_id || ""}`;
}

// ---------- time ----------
export const parseTime = (iso) => (iso ? new Date(iso) : null);

export function fmtTime(iso, { seconds = false } = {}) {
  const d = parseTime(iso);
  if (!d || isNaN(d)) return "—";
  const sameDay = d.toDateString() === new Date().toDateString();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined, hour12: false });
  return sameDay ? time : `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

export function fmtDuration(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

export function fmtAgo(iso) {
  const d = parseTime(iso);
  if (!d || isNaN(d)) return "never";
  const ms = Date.now() - d.getTime();
  return ms < 5000 ? "just now" : `${fmtDuration(ms)} ago`;
}

/** The deadline that matters now: acknowledgement before ack, resolution after. */
export function activeDeadline(inc) {
  if (["closed", "dismissed", "verified", "resolved"].includes(inc.status)) return null;
  if (inc.status === "dispatched" && inc.ack_due_at && !inc.acknowledged_at) return { at: inc.ack_due_at, kind: "ack" };
  return inc.due_at ? { at: inc.due_at, kind: "due" } : null;
}

/** A live countdown element; call tickCountdowns() every second to refresh them. */
export function countdown(inc) {
  const el = h("span.countdown");
  const dl = activeDeadline(inc);
  if (!dl) { el.classList.add("done"); el.textContent = inc.closed_at ? "closed" : "—"; return el; }
  el.dataset.due = dl.at;
  el.dataset.kind = dl.kind;
  renderCountdown(el);
  return el;
}

function renderCountdown(el) {
  const left = new Date(el.dataset.due).getTime() - Date.now();
  const prefix = el.dataset.kind === "ack" ? "ack " : "";
  el.textContent = left < 0 ? `${prefix}overdue ${fmtDuration(left)}` : `${prefix}${fmtDuration(left)}`;
  el.classList.toggle("late", left < 0);
  el.classList.toggle("soon", left >= 0 && left < 15 * 60 * 1000);
}

export function tickCountdowns(root = document) {
  root.querySelectorAll(".countdown[data-due]").forEach(renderCountdown);
}

// ---------- feedback ----------
export function toast(message, kind = "") {
  let host = $(".toast-host");
  if (!host) document.body.append((host = h("div.toast-host")));
  const t = h("div.toast", { class: kind, role: "status" }, message);
  host.append(t);
  setTimeout(() => t.remove(), kind === "error" ? 7000 : 4000);
}

let audio = null;
/** A short two-tone chime from the Web Audio API: no sound file to ship. */
export function chime() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const now = audio.currentTime;
    [880, 660].forEach((freq, i) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.25, now + i * 0.18 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.18 + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.18);
      osc.stop(now + i * 0.18 + 0.18);
    });
  } catch { /* no audio device: the visual cue still shows */ }
}

/** A modal asking for a note or reason; resolves to the text, or null when cancelled. */
export function ask({ title, label, required = false, confirm = "Confirm", extra = null }) {
  return new Promise((resolve) => {
    const input = h("textarea", { placeholder: required ? "Required" : "Optional", "aria-label": label });
    const error = h("div.form-error");
    const done = (value) => { back.remove(); resolve(value); };
    const submit = () => {
      const v = input.value.trim();
      if (extra && extra.required && !extra.el.value) { error.textContent = `${extra.label}: please choose.`; extra.el.focus(); return; }
      if (required && !v) { error.textContent = `${label} is required.`; input.focus(); return; }
      done({ note: v, extra: extra ? extra.el.value.trim() : null });
    };
    const back = h("div.dialog-backdrop", { onclick: (e) => e.target === back && done(null) },
      h("div.dialog.panel", { role: "dialog", "aria-modal": "true" },
        h("h2", {}, title),
        extra ? h("label.field", {}, extra.label, extra.el) : null,
        h("label.field", {}, label, input),
        error,
        h("div.row", {},
          h("button.ghost", { type: "button", onclick: () => done(null) }, "Cancel"),
          h("button.primary", { type: "button", onclick: submit }, confirm))));
    back.addEventListener("keydown", (e) => {
      if (e.key === "Escape") done(null);
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit();
      e.stopPropagation();
    });
    document.body.append(back);
    (extra && extra.required ? extra.el : input).focus();
  });
}

// ---------- the console's frame ----------
const NAV = [
  ["board", "/console/", "Incidents"],
  ["map", "/console/map", "Map"],
  ["devices", "/console/devices", "Cameras & edges"],
  ["figures", "/console/figures", "Figures"],
];

export const ROLE_LABELS = { admin: "Administrator", operator: "Operator", grid_worker: "Grid worker", integration: "Integration" };

/** Renders the top bar for console pages and resolves to the signed-in user. */
export async function shell(active, { live = true } = {}) {
  const user = await me();
  const bar = h("header.topbar", {},
    h("a.brand", { href: "/console/" }, h("img", { src: "/console/static/logo.svg", alt: "" }), "gridwatch", h("small", {}, "console")),
    h("nav.nav", {}, NAV.map(([key, href, label]) => h("a", { href, class: key === active ? "active" : "" }, label)),
      user.role === "grid_worker" ? h("a", { href: "/m/" }, "My tasks") : null),
    h("div.userbox", {},
      live ? h("span.live-dot", { id: "live" }, "connecting") : null,
      h("div.who", {}, h("b", {}, user.display_name || user.username),
        `${ROLE_LABELS[user.role] || user.role}${user.grid_id ? " · " + user.grid_id : ""}`),
      h("button.ghost", { onclick: logout, title: "Sign out" }, "Sign out")));
  document.body.prepend(bar);
  return user;
}

export function setLive(state) {
  const el = $("#live");
  if (!el) return;
  el.className = `live-dot ${state === "live" ? "on" : "off"}`;
  el.textContent = state === "live" ? "live" : "reconnecting";
}
