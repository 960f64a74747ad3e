// Edges, cameras and sensors: online/offline from the retained status topics, last frame,
// fps, last snapshot, battery. Refreshed every few seconds.
import { gridsById } from "./actions.js";
import { get } from "./api.js";
import { N_, t } from "./i18n.js";
import { liveImage } from "./live.js";
import { $, fill, fmtAgo, fmtTime, h, shell, toast, typeLabel } from "./ui.js";

const root = $("#app");
const REFRESH_MS = 5000;
const STATE_CLASS = { online: "ok", streaming: "ok", ok: "ok", offline: "bad", lost: "bad", stopped: "warn", disabled: "warn", low_battery: "warn" };
const STATES = { online: N_("online"), streaming: N_("streaming"), ok: N_("ok"), offline: N_("offline"), lost: N_("lost"),
  stopped: N_("stopped"), disabled: N_("disabled"), low_battery: N_("low battery"), failing: N_("failing") };
const stateBadge = (s) => h("span.badge.dot", { class: STATE_CLASS[s] || "" }, STATES[s] ? t(STATES[s]) : s || t("unknown"));
// The record stream (the second stream clips come from), when the camera has one; "shared":
// the detect stream records too.
const RECORD_STATES = { streaming: N_("streaming"), lost: N_("lost"), shared: N_("shared with detection"),
  connecting: N_("connecting"), stopped: N_("stopped"), disabled: N_("disabled") };
const RECORD_CLASS = { streaming: "ok", shared: "ok", lost: "bad" };
function recordBadge(record) {
  if (!record || !record.state) return null;
  const s = record.state;
  return h("span.badge.record", { class: RECORD_CLASS[s] || "warn", title: record.error || "" },
    t("Record stream: {state}", { state: RECORD_STATES[s] ? t(RECORD_STATES[s]) : s }));
}
// Frames the edge could not analyse: a camera that streams but detects nothing says so.
function analysisErrors(analysis) {
  if (!analysis || !analysis.errors) return null;
  return h("div.analysis-errors", { title: analysis.last_error || "" },
    t("{n} of {frames} frames not analysed", { n: analysis.errors, frames: analysis.frames ?? "?" }),
    analysis.last_error ? h("div.mono.faint", {}, analysis.last_error) : null);
}
let grids = new Map();   // id -> grid: the page names grids, as the board does
const gridCell = (id) => h("td", { title: id || "" }, (id && grids.get(id)?.name) || id || "—");
const items = (path) => get(path, { limit: 500 }).then((d) => d.items).catch(() => null);

function battery(pct) {
  if (pct == null) return h("span.faint", {}, "—");
  const c = pct < 15 ? "var(--bad)" : pct < 35 ? "var(--warn)" : "var(--ok)";
  return h("span.battery", {}, h("i", { style: { "--pct": Math.max(0, Math.min(100, pct)), "--c": c } }), `${Math.round(pct)}%`);
}

// Every snapshot view is audited: keep each thumbnail's element across refreshes so the
// browser fetches it once, not every few seconds.
const thumbs = new Map();
function thumb(cameraId, url) {
  if (!thumbs.has(url)) thumbs.set(url, h("a", { href: url, target: "_blank" }, h("img.thumb", { src: url, alt: t("Last snapshot of {camera}", { camera: cameraId }) })));
  return thumbs.get(url);
}

// A camera with an edge shows its live frame (the last snapshot until one comes); the same
// element is kept across refreshes so its polling carries on instead of starting over.
const lives = new Map();
function live(camera, snapshotUrl) {
  if (!lives.has(camera.id)) lives.set(camera.id, liveImage(camera.id, snapshotUrl));
  return lives.get(camera.id);
}

function table(headers, rows, empty) {
  if (rows === null) return h("div.empty", {}, t("Not available."));
  if (!rows.length) return h("div.empty", {}, h("b", {}, t(empty)), t("Devices appear once they report their status."));
  return h("table.plain", {}, h("thead", {}, h("tr", {}, headers.map((c) => h("th", {}, c ? t(c) : "")))), h("tbody", {}, rows));
}

function summary(label, list, good) {
  const n = (list || []).length;
  const up = (list || []).filter((d) => good.includes(d.state)).length;
  return h("div.kpi.panel", {}, h("div.label", {}, label), h("div.value", {}, `${up}`, h("span.muted", { style: { fontSize: "16px" } }, t(" / {n} up", { n }))));
}

async function render(user) {
  // notification channels are the desk's concern (operators, admins); a grid worker may not read them
  const desk = ["admin", "operator"].includes(user.role);
  const [edges, cameras, sensors, snaps, channels] = await Promise.all([items("/api/edges"), items("/api/cameras"), items("/api/sensors"),
    get("/api/console/last-snapshots").then((d) => d.items).catch(() => ({})), desk ? items("/api/notification-channels") : null]);
  fill(root,
    h("div.page-head", {}, h("h1", {}, t("Cameras and edges")), h("span.sub", {}, t("updated {time}", { time: fmtTime(new Date().toISOString(), { seconds: true }) }))),
    h("div.grid-3", { style: { marginBottom: "16px" } },
      summary(t("Edges online"), edges, ["online"]), summary(t("Cameras streaming"), cameras, ["streaming"]),
      summary(t("Sensors reporting"), sensors, ["online", "ok"])),
    h("section.panel", { id: "edges", style: { marginBottom: "16px" } }, h("header", {}, h("h2", {}, t("Edge boxes"))),
      table([N_("Edge"), N_("State"), N_("Status time"), N_("Last seen")], edges && edges.map((e) => h("tr", { dataset: { id: e.id } },
        h("td.mono", {}, e.id), h("td", {}, stateBadge(e.state)), h("td", {}, fmtTime(e.ts, { seconds: true })), h("td", {}, fmtAgo(e.last_seen || e.ts)))), N_("No edges yet"))),
    h("section.panel", { id: "cameras", style: { marginBottom: "16px" } }, h("header", {}, h("h2", {}, t("Cameras"))),
      table(["", N_("Camera"), N_("Edge"), N_("State"), N_("FPS"), N_("Last frame"), N_("Grid")], cameras && cameras.map((c) => h("tr", { dataset: { id: c.id } },
        h("td", {}, c.edge_id ? live(c, snaps[c.id]) : snaps[c.id] ? thumb(c.id, snaps[c.id]) : h("div.thumb")),
        // the name first (what people call the camera), the id under it (what profiles and logs say)
        h("td", {}, c.name ? [h("b", {}, c.name), h("div.inc-sub.mono", {}, c.id)] : h("b.mono", {}, c.id)),
        h("td.mono", {}, c.edge_id || "—"), h("td", {}, h("div.states", {}, stateBadge(c.state), recordBadge(c.record)), analysisErrors(c.analysis)),
        h("td.mono", {}, c.fps != null ? Number(c.fps).toFixed(1) : "—"),
        h("td", {}, fmtAgo(c.last_frame_at || c.last_seen)), gridCell(c.grid_id))), N_("No cameras yet"))),
    h("section.panel", { id: "sensors", style: { marginBottom: "16px" } }, h("header", {}, h("h2", {}, t("Sensors"))),
      table([N_("Sensor"), N_("Kind"), N_("State"), N_("Last seen"), N_("Battery"), N_("Last alert"), N_("Grid")], sensors && sensors.map((s) => h("tr", { dataset: { id: s.id } },
        h("td.mono", {}, s.id), h("td", {}, s.kind || "—"), h("td", {}, stateBadge(s.state)), h("td", {}, fmtAgo(s.last_seen)),
        h("td", {}, battery(s.battery)), h("td", {}, s.last_alert_type ? typeLabel(s.last_alert_type) : "—"), gridCell(s.grid_id))), N_("No sensors yet"))),
    channels && channels.length ? h("section.panel", { id: "channels" }, h("header", {}, h("h2", {}, t("Notification channels"))),
      table([N_("Channel"), N_("Kind"), N_("State"), N_("Waiting"), N_("Last delivered"), N_("Last error")], channels.map((c) =>
        h("tr", { dataset: { id: c.name } }, h("td.mono", {}, c.name), h("td", {}, c.kind), h("td", {}, stateBadge(c.ok ? "ok" : "failing")),
          h("td.mono", {}, c.pending), h("td", {}, fmtAgo(c.last_sent_at)), h("td", {}, c.last_error || "—"))), N_("No channels"))) : null);
}

(async () => {
  const user = await shell("devices", { live: false });
  grids = await gridsById();
  await render(user);
  setInterval(() => render(user).catch(() => {}), REFRESH_MS);
})().catch((err) => toast(err.message, "error"));
