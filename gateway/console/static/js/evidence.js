// Snapshot, track and timeline rendering shared by the console's incident page and the phone view.
import { t } from "./i18n.js";
import { actionLabel, fmtTime, h, statusLabel, svg, typeLabel } from "./ui.js";

const STATUS_OF_EVENT = {
  opened: "open", dispatched: "dispatched", acknowledged: "acknowledged", resolved: "resolved",
  verified: "verified", closed: "closed", reopened: "reopened", dismissed: "dismissed",
};

/** Points of an alert's track, normalised 0..1: [[x,y],...] or bboxes [[x,y,w,h],...] (their foot point). */
export function trackPoints(alert) {
  const raw = (alert.details && (alert.details.track || alert.details.path)) || [];
  return raw.filter(Array.isArray).map((p) => (p.length >= 4 ? [p[0] + p[2] / 2, p[1] + p[3]] : [p[0], p[1]]));
}

/** One alert's privacy-masked snapshot with its box and track drawn on top. */
export function snapshotFigure(alert) {
  const overlay = svg("svg", { class: "overlay", viewBox: "0 0 1 1", preserveAspectRatio: "none" });
  const track = trackPoints(alert);
  if (track.length > 1) {
    overlay.append(svg("polyline", { points: track.map((p) => p.join(",")).join(" "), fill: "none",
      stroke: "#2dd4bf", "stroke-width": 3, "vector-effect": "non-scaling-stroke", "stroke-linejoin": "round", "stroke-dasharray": "6 4" }));
    const [x, y] = track[track.length - 1];
    overlay.append(svg("circle", { cx: x, cy: y, r: 0.012, fill: "#2dd4bf" }));
  }
  if (Array.isArray(alert.bbox) && alert.bbox.length === 4) {
    const [x, y, w, hgt] = alert.bbox;
    overlay.append(svg("rect", { x, y, width: w, height: hgt, fill: "rgba(244,63,94,.12)", stroke: "#f43f5e",
      "stroke-width": 2.5, "vector-effect": "non-scaling-stroke" }));
  }
  const url = alert.snapshot_url || (alert.snapshot && alert.snapshot.startsWith("data:") ? alert.snapshot : null);
  const frame = h("div.frame", {},
    url ? h("img", { src: url, alt: t("Snapshot of {type}", { type: typeLabel(alert.type) }), loading: "lazy",
      onerror: (e) => e.target.replaceWith(h("div.nosnap", {}, t("snapshot unavailable"))) })
      : h("div.nosnap", {}, alert.source && alert.source.kind === "sensor" ? t("sensor alert — no image") : t("no snapshot")),
    overlay);
  return h("figure.snap", {}, frame,
    h("figcaption", {}, h("b", {}, typeLabel(alert.type)), alert.zone ? t("zone {zone}", { zone: alert.zone }) : null,
      alert.line ? t("line {line}", { line: alert.line }) : null,
      alert.score != null ? h("span.mono", {}, `${Math.round(alert.score * 100)}%`) : null,
      h("span.grow"), h("span", { title: alert.ts }, fmtTime(alert.ts, { seconds: true }))));
}

/** The audit trail: every transition with who, when and why; a run of repeated alerts folds into one row. */
export function timeline(entries) {
  if (!entries || !entries.length) return h("div.muted", {}, t("No transitions yet."));
  const list = h("ol.timeline");
  for (const run of runs(entries)) {
    if (run.length < 2 || !isAttach(run[0])) { list.append(...run.map(entryRow)); continue; }
    const key = String(run[0].id ?? run[0].at);
    const rows = run.map(entryRow);
    const open = expandedRuns.has(key);
    rows.forEach((r) => r.classList.toggle("hidden", !open));
    const last = run[run.length - 1];
    const fold = h("li.fold", { dataset: { action: "attached-run" }, role: "button", tabindex: 0, "aria-expanded": String(open),
      onclick: () => {
        const now = !expandedRuns.delete(key);
        if (now) expandedRuns.add(key);
        rows.forEach((r) => r.classList.toggle("hidden", !now));
        fold.setAttribute("aria-expanded", String(now));
      } },
    h("span.node"), h("div.what", {}, t("+{n} alerts, last {time}", { n: run.length, time: fmtTime(last.at) })),
    h("div.meta", {}, t("repeated alerts attached · tap to show or hide")));
    list.append(fold, ...rows);
  }
  return list;
}

const expandedRuns = new Set();   // runs the reader opened, kept across live re-renders
const isAttach = (e) => ["attached", "alert_attached"].includes(e.action || e.event);

/** Consecutive entries grouped: each run of attached alerts together, every other entry alone. */
function runs(entries) {
  const out = [];
  for (const e of entries) {
    const prev = out[out.length - 1];
    if (prev && isAttach(e) && isAttach(prev[0])) prev.push(e);
    else out.push([e]);
  }
  return out;
}

function entryRow(e) {
  const what = e.action || e.event;
  const to = e.to_status || STATUS_OF_EVENT[what];
  const text = e.note || e.reason;
  return h("li", { dataset: { action: what } },
    h("span.node", { class: to ? `st-${to}` : "" }),
    h("div.what", {}, actionLabel(what), e.from_status && e.to_status && e.from_status !== e.to_status
      ? h("span.muted", {}, `  ${statusLabel(e.from_status)} → ${statusLabel(e.to_status)}`) : null),
    h("div.meta", {}, `${fmtTime(e.at, { seconds: true })} · ${e.actor || t("system")}`),
    text ? h("div.note", {}, text) : null);
}

/**
 * The newest snapshot large, the others behind a "show all" toggle, so that an incident that
 * absorbed dozens of alerts stays short. `state.all` (kept by the caller) survives re-renders.
 */
export function snapshotsView(alerts, state) {
  if (!alerts.length) return h("div.muted", {}, t("No alerts attached."));
  const newest = [...alerts].sort((a, b) => String(b.ts).localeCompare(String(a.ts)));
  const rest = h("div.snapshots.more", { class: state.all ? "" : "hidden" }, state.all ? newest.slice(1).map(snapshotFigure) : []);
  const toggle = newest.length > 1 ? h("button.ghost.show-all", { onclick: () => {
    state.all = !state.all;
    if (state.all && !rest.children.length) rest.append(...newest.slice(1).map(snapshotFigure));   // drawn only when asked for
    rest.classList.toggle("hidden", !state.all);
    toggle.textContent = state.all ? t("Show only the newest") : t("Show all {n} snapshots", { n: newest.length });
  } }, state.all ? t("Show only the newest") : t("Show all {n} snapshots", { n: newest.length })) : null;
  return h("div.snapshots-view", {}, h("div.snapshots.newest", {}, snapshotFigure(newest[0])), toggle, rest);
}

/** URLs of the resolution photos an incident carries (whatever shape the API gives them in). */
export function photoUrls(inc) {
  const photos = inc.photos || [];
  return photos.map((p, n) => (typeof p === "string" ? p : p.url || `/api/incidents/${inc.id}/photos/${p.n ?? n}`));
}
