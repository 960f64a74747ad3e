// Small DOM and formatting helpers shared by every page.
import { logout, me } from "./api.js";
import { LANG, N_, TIMEZONE, languageSwitch, t, translatePage } from "./i18n.js";

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
  pin: "M12 21s-7-6.2-7-11a7 7 0 1 1 14 0c0 4.8-7 11-7 11zM12 12a2 2 0 1 0 0-4 2 2 0 0 0 0 4z",
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

// English source texts, shown through t(): the terms of grid management in Chinese
const TYPE_LABELS = {
  intrusion: N_("Zone intrusion"), loitering: N_("Loitering"), line_crossing: N_("Line crossing"),
  falling_object: N_("Object thrown or falling from height"), "tamper.covered": N_("Camera covered"),
  "tamper.defocus": N_("Camera defocused"), "tamper.moved": N_("Camera moved"), "stream.lost": N_("Video lost"),
  "stream.restored": N_("Video restored"), motion: N_("Motion"), camera_event: N_("Camera event"),
  "sensor.alarm": N_("Sensor alarm"), "sensor.threshold": N_("Sensor over threshold"),
  "sensor.offline": N_("Sensor offline"), "sensor.battery_low": N_("Sensor battery low"),
};
export const typeLabel = (x) => (TYPE_LABELS[x] ? t(TYPE_LABELS[x]) : (x || "").replace(/[._]/g, " "));

const ACTION_LABELS = {
  opened: N_("Filed"), open: N_("Filed"), dispatch: N_("Dispatch"), dispatched: N_("Dispatched"),
  acknowledge: N_("Acknowledge"), acknowledged: N_("Acknowledged"), resolve: N_("Resolve"), resolved: N_("Handled"),
  verify: N_("Verify"), verified: N_("Verified"), close: N_("Close"), closed: N_("Closed"), reopen: N_("Reopen"),
  reopened: N_("Reopened"), dismiss: N_("Dismiss"), dismissed: N_("Dismissed"), escalate: N_("Escalate"),
  escalated: N_("Escalated"), extend: N_("Extend deadline"), extended: N_("Deadline extended"),
  reassign: N_("Reassign"), reassigned: N_("Reassigned"), merge: N_("Merge"), merged: N_("Merged"),
  alert_attached: N_("Alert attached"), attached: N_("Alert attached"), deadline_near: N_("Deadline near"),
  overdue: N_("Overdue"), rate: N_("Rate"), rated: N_("Rated"), notified: N_("Notified"),
};
export const actionLabel = (a) => (ACTION_LABELS[a] ? t(ACTION_LABELS[a]) : (a || "").replace(/_/g, " "));

const STATUS_LABELS = {
  open: N_("Filed"), dispatched: N_("Dispatched"), acknowledged: N_("Acknowledged"), reopened: N_("Reopened"),
  resolved: N_("Handled"), verified: N_("Verified"), closed: N_("Closed"), dismissed: N_("Dismissed"),
};
export const statusLabel = (s) => (STATUS_LABELS[s] ? t(STATUS_LABELS[s]) : s || "—");
const SEVERITY_LABELS = { critical: N_("critical"), major: N_("major"), minor: N_("minor"), info: N_("info") };
export const severityLabel = (s) => (SEVERITY_LABELS[s] ? t(SEVERITY_LABELS[s]) : s || "—");
const LEVEL_LABELS = { grid: N_("Grid"), community: N_("Community"), street: N_("Street office") };
export const levelLabel = (l) => (LEVEL_LABELS[l] ? t(LEVEL_LABELS[l]) : l || "—");

export const sevBadge = (s) => h("span.badge.dot", { class: `sev-${s}` }, severityLabel(s));
export const statusBadge = (s) => h("span.badge", { class: `st-${s}` }, statusLabel(s));
export const levelBadge = (l) => h("span.badge.lvl", {}, levelLabel(l));

// Camera names by id (actions.js loadCameraNames fills it): pages name cameras, ids only as titles.
export const CAMERA_NAMES = new Map();
/** Remember the names of these cameras (items of GET /api/cameras). */
export const nameCameras = (cameras) => cameras.forEach((c) => c.name && CAMERA_NAMES.set(c.id, c.name));
export const cameraName = (id) => (id && CAMERA_NAMES.get(id)) || id || "";
/** What an incident came from: its camera's name, else its source's id. */
export const sourceName = (inc) => cameraName(inc.camera_id) || inc.source_id || "";

export function incidentTitle(inc) {
  // the gateway titles alerts "<type> at <where>" in English: other languages name the type themselves
  const where = inc.title && inc.type && /^.+? at (.+)$/.exec(inc.title);
  const place = where && (where[1] === inc.camera_id ? cameraName(inc.camera_id) : where[1]);
  if (where && (LANG !== "en" || place !== where[1])) return `${typeLabel(inc.type)} · ${place}`;
  if (inc.title) return inc.title[0].toUpperCase() + inc.title.slice(1);
  return `${typeLabel(inc.type)} · ${sourceName(inc) || inc.grid_id || ""}`;
}

// ---------- time ----------
export const parseTime = (iso) => (iso ? new Date(iso) : null);

export function fmtTime(iso, { seconds = false } = {}) {
  const d = parseTime(iso);
  if (!d || isNaN(d)) return "—";
  const sameDay = d.toDateString() === new Date().toDateString();
  const zone = { timeZone: TIMEZONE };
  const time = d.toLocaleTimeString(LANG, { ...zone, hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined, hour12: false });
  return sameDay ? time : `${d.toLocaleDateString(LANG, { ...zone, month: "short", day: "numeric" })} ${time}`;
}

export function fmtDuration(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return t("{s}s", { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t("{m}m {s}s", { m, s: String(s % 60).padStart(2, "0") });
  const hr = Math.floor(m / 60);
  if (hr < 48) return t("{h}h {m}m", { h: hr, m: String(m % 60).padStart(2, "0") });
  return t("{d}d {h}h", { d: Math.floor(hr / 24), h: hr % 24 });
}

export function fmtAgo(iso) {
  const d = parseTime(iso);
  if (!d || isNaN(d)) return t("never");
  const ms = Date.now() - d.getTime();
  return ms < 5000 ? t("just now") : t("{duration} ago", { duration: fmtDuration(ms) });
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
  if (!dl) { el.classList.add("done"); el.textContent = inc.closed_at ? t("closed") : "—"; return el; }
  el.dataset.due = dl.at;
  el.dataset.kind = dl.kind;
  renderCountdown(el);
  return el;
}

function renderCountdown(el) {
  const left = new Date(el.dataset.due).getTime() - Date.now();
  const ack = el.dataset.kind === "ack";
  const d = fmtDuration(left);
  el.textContent = left < 0 ? (ack ? t("ack overdue {d}", { d }) : t("overdue {d}", { d }))
    : (ack ? t("ack {d}", { d }) : d);
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
export function ask({ title, label, required = false, confirm = t("Confirm"), extra = null }) {
  return new Promise((resolve) => {
    const input = h("textarea", { placeholder: required ? t("Required") : t("Optional"), "aria-label": label });
    const error = h("div.form-error");
    const done = (value) => { back.remove(); resolve(value); };
    const submit = () => {
      const v = input.value.trim();
      if (extra && extra.required && !extra.el.value) { error.textContent = t("{what}: please choose.", { what: extra.label }); extra.el.focus(); return; }
      if (required && !v) { error.textContent = t("{what} is required.", { what: label }); input.focus(); return; }
      done({ note: v, extra: extra ? extra.el.value.trim() : null });
    };
    const back = h("div.dialog-backdrop", { onclick: (e) => e.target === back && done(null) },
      h("div.dialog.panel", { role: "dialog", "aria-modal": "true" },
        h("h2", {}, title),
        extra ? h("label.field", {}, extra.label, extra.el) : null,
        h("label.field", {}, label, input),
        error,
        h("div.row", {},
          h("button.ghost", { type: "button", onclick: () => done(null) }, t("Cancel")),
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
  ["board", "/console/", N_("Incidents")],
  ["map", "/console/map", N_("Map")],
  ["devices", "/console/devices", N_("Cameras & edges")],
  ["figures", "/console/figures", N_("Figures")],
];

const ROLES = { admin: N_("Administrator"), operator: N_("Operator"), grid_worker: N_("Grid worker"), integration: N_("Integration") };
export const roleLabel = (r) => (ROLES[r] ? t(ROLES[r]) : r);

/** Renders the top bar for console pages and resolves to the signed-in user. */
export async function shell(active, { live = true } = {}) {
  translatePage();
  const user = await me();
  const bar = h("header.topbar", {},
    h("a.brand", { href: "/console/" }, h("img", { src: "/console/static/logo.svg", alt: "" }), "gridwatch", h("small", {}, t("console"))),
    h("nav.nav", {}, NAV.map(([key, href, label]) => h("a", { href, class: key === active ? "active" : "" }, t(label))),
      user.role === "grid_worker" ? h("a", { href: "/m/" }, t("My tasks")) : null),
    h("div.userbox", {},
      live ? h("span.live-dot", { id: "live" }, t("connecting")) : null,
      h("div.who", { title: [user.display_name || user.username, roleLabel(user.role), user.grid_name || user.grid_id].filter(Boolean).join(" · ") },
        h("b", {}, user.display_name || user.username),
        roleLabel(user.role), user.grid_id ? h("span.who-grid", {}, ` · ${user.grid_name || user.grid_id}`) : null),
      languageSwitch(),
      h("button.ghost", { onclick: logout, title: t("Sign out") }, t("Sign out"))));
  document.body.prepend(bar);
  return user;
}

export function setLive(state) {
  const el = $("#live");
  if (!el) return;
  el.className = `live-dot ${state === "live" ? "on" : "off"}`;
  el.textContent = state === "live" ? t("live") : t("reconnecting");
}
