// Edges, cameras and sensors: online/offline from the retained status topics, last frame,
// fps, last snapshot, battery. Refreshed every few seconds.
import { get } from "./api.js";
import { $, fmtAgo, fmtTime, h, shell, toast, typeLabel } from "./ui.js";

const root = $("#app");
const REFRESH_MS = 5000;
const STATE_CLASS = { online: "ok", streaming: "ok", ok: "ok", offline: "bad", lost: "bad", stopped: "warn", disabled: "warn", low_battery: "warn" };
const stateBadge = (s) => h("span.badge.dot", { class: STATE_CLASS[s] || "" }, s || "unknown");
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
  if (!thumbs.has(url)) thumbs.set(url, h("a", { href: url, target: "_blank" }, h("img.thumb", { src: url, alt: `Last snapshot of ${cameraId}` })));
  return thumbs.get(url);
}

function table(headers, rows, empty) {
  if (rows === null) return h("div.empty", {}, "Not available.");
  if (!rows.length) return h("div.empty", {}, h("b", {}, empty), "Devices appear once they report their status.");
  return h("table.plain", {}, h("thead", {}, h("tr", {}, headers.map((t) => h("th", {}, t)))), h("tbody", {}, rows));
}

function summary(label, list, good) {
  const n = (list || []).length;
  const up = (list || []).filter((d) => good.includes(d.state)).length;
  return h("div.kpi.panel", {}, h("div.label", {}, label), h("div.value", {}, `${up}`, h("span.muted", { style: { fontSize: "16px" } }, ` / ${n} up`)));
}

async function render() {
  const [edges, cameras, sensors, snaps] = await Promise.all([items("/api/edges"), items("/api/cameras"), items("/api/sensors"),
    get("/api/console/last-snapshots").then((d) => d.items).catch(() => ({}))]);
  root.replaceChildren(
    h("div.page-head", {}, h("h1", {}, "Cameras and edges"), h("span.sub", {}, `updated ${fmtTime(new Date().toISOString(), { seconds: true })}`)),
    h("div.grid-3", { style: { marginBottom: "16px" } },
      summary("Edges online", edges, ["online"]), summary("Cameras streaming", cameras, ["streaming"]), summary("Sensors reporting", sensors, ["online", "ok"])),
    h("section.panel", { id: "edges", style: { marginBottom: "16px" } }, h("header", {}, h("h2", {}, "Edge boxes")),
      table(["Edge", "State", "Status time", "Last seen"], edges && edges.map((e) => h("tr", { dataset: { id: e.id } },
        h("td.mono", {}, e.id), h("td", {}, stateBadge(e.state)), h("td", {}, fmtTime(e.ts, { seconds: true })), h("td", {}, fmtAgo(e.last_seen || e.ts)))), "No edges yet")),
    h("section.panel", { id: "cameras", style: { marginBottom: "16px" } }, h("header", {}, h("h2", {}, "Cameras")),
      table(["", "Camera", "Edge", "State", "FPS", "Last frame", "Grid"], cameras && cameras.map((c) => h("tr", { dataset: { id: c.id } },
        h("td", {}, snaps[c.id] ? thumb(c.id, snaps[c.id]) : h("div.thumb")),
        h("td", {}, h("b.mono", {}, c.id), c.name ? h("div.inc-sub", {}, c.name) : null),
        h("td.mono", {}, c.edge_id || "—"), h("td", {}, stateBadge(c.state)),
        h("td.mono", {}, c.fps != null ? Number(c.fps).toFixed(1) : "—"),
        h("td", {}, fmtAgo(c.last_frame_at || c.last_seen)), h("td.mono", {}, c.grid_id || "—"))), "No cameras yet")),
    h("section.panel", { id: "sensors" }, h("header", {}, h("h2", {}, "Sensors")),
      table(["Sensor", "Kind", "State", "Last seen", "Battery", "Last alert", "Grid"], sensors && sensors.map((s) => h("tr", { dataset: { id: s.id } },
        h("td.mono", {}, s.id), h("td", {}, s.kind || "—"), h("td", {}, stateBadge(s.state)), h("td", {}, fmtAgo(s.last_seen)),
        h("td", {}, battery(s.battery)), h("td", {}, s.last_alert_type ? typeLabel(s.last_alert_type) : "—"), h("td.mono", {}, s.grid_id || "—"))), "No sensors yet")));
}

(async () => {
  await shell("devices", { live: false });
  await render();
  setInterval(() => render().catch(() => {}), REFRESH_MS);
})().catch((err) => toast(err.message, "error"));
