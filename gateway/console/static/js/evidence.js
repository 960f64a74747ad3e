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

/** The audit trail: every transition with who, when and why. */
export function timeline(entries) {
  if (!entries || !entries.length) return h("div.muted", {}, t("No transitions yet."));
  return h("ol.timeline", {}, entries.map((e) => {
    const what = e.action || e.event;
    const to = e.to_status || STATUS_OF_EVENT[what];
    const text = e.note || e.reason;
    return h("li", { dataset: { action: what } },
      h("span.node", { class: to ? `st-${to}` : "" }),
      h("div.what", {}, actionLabel(what), e.from_status && e.to_status && e.from_status !== e.to_status
        ? h("span.muted", {}, `  ${statusLabel(e.from_status)} → ${statusLabel(e.to_status)}`) : null),
      h("div.meta", {}, `${fmtTime(e.at, { seconds: true })} · ${e.actor || t("system")}`),
      text ? h("div.note", {}, text) : null);
  }));
}

/** URLs of the resolution photos an incident carries (whatever shape the API gives them in). */
export function photoUrls(inc) {
  const photos = inc.photos || [];
  return photos.map((p, n) => (typeof p === "string" ? p : p.url || `/api/incidents/${inc.id}/photos/${p.n ?? n}`));
}
