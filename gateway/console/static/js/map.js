// The map of grids: open incidents colour their grid, cameras and sensors as markers,
// a click on a grid lists its incidents.
import { get, liveEvents } from "./api.js";
import { t } from "./i18n.js";
import { gridMap } from "./mapdraw.js";
import {
  $, countdown, fmtAgo, h, incidentTitle, levelLabel, OPEN_STATUSES, setLive, sevBadge, severityLabel, shell, statusBadge,
  nameCameras, sourceName, tickCountdowns, toast,
} from "./ui.js";

const root = $("#app");
const state = { geo: null, grids: [], incidents: [], cameras: [], sensors: [], selected: new URLSearchParams(location.search).get("grid") };

async function load() {
  const [geo, grids, incidents, cameras, sensors, config] = await Promise.all([
    get("/api/grids.geojson"),
    get("/api/grids", { limit: 500 }).then((d) => d.items),
    get("/api/incidents", { limit: 500, status: OPEN_STATUSES.join(",") }).then((d) => d.items),
    get("/api/cameras", { limit: 500 }).then((d) => d.items).catch(() => []),
    get("/api/sensors", { limit: 500 }).then((d) => d.items).catch(() => []),
    get("/api/console/config").catch(() => ({})),
  ]);
  Object.assign(state, { geo, grids, incidents, cameras, sensors, tileUrl: config.map_tile_url });
  nameCameras(cameras);   // (incidents name their cameras)
  render();
}

function openByGrid() {
  const open = {};
  for (const i of state.incidents) {
    if (!i.grid_id) continue;
    const o = (open[i.grid_id] = open[i.grid_id] || { count: 0, critical: false });
    o.count += 1;
    o.critical = o.critical || i.severity === "critical";
  }
  return open;
}

// The grid cells to list and count; a professional grid's people see only their own grid.
const cells = () => {
  const grids = state.grids.filter((g) => g.level === "grid");
  return grids.length ? grids : state.grids;
};

function render() {
  const tip = h("div.map-tip.hidden");
  const markers = [
    ...state.cameras.map((c) => ({ ...(c.location || {}), kind: "camera", id: c.id, state: cameraClass(c.state),
      label: t("Camera {camera}: {state}", { camera: c.name || c.id, state: t(c.state || "unknown") }) })),
    ...state.sensors.map((s) => ({ ...(s.location || {}), kind: "sensor", id: s.id, state: s.state,
      label: t("Sensor {sensor} ({kind}): {state}", { sensor: s.id, kind: s.kind || t("sensor"), state: t(s.state || "unknown") }) })),
    ...state.incidents.filter((i) => i.location).map((i) => ({ ...i.location, kind: "incident", id: String(i.id), severity: i.severity,
      label: `#${i.id} ${incidentTitle(i)} (${severityLabel(i.severity)})`, href: `/console/incidents/${i.id}` })),
  ];
  const map = gridMap(state.geo, {
    open: openByGrid(), highlight: state.selected, markers, interactive: true, tileUrl: state.tileUrl,
    onGridClick: (id) => { state.selected = id; history.replaceState(null, "", `?grid=${encodeURIComponent(id)}`); render(); },
    onHover: (f, e) => {
      if (!f) { tip.classList.add("hidden"); return; }
      const r = tip.parentElement.getBoundingClientRect();
      tip.textContent = `${f.properties.name} (${f.properties.id})`;
      tip.style.left = `${e.clientX - r.left + 14}px`;
      tip.style.top = `${e.clientY - r.top + 14}px`;
      tip.classList.remove("hidden");
    },
  });
  // The legend sits under the map, never over a grid.
  const vb = map.viewBox.baseVal;   // a phone sizes the map to its shape, not to the window
  const wrap = h("div.map-wrap", { id: "map" }, h("div.map-canvas", { style: { "--aspect": (vb.width / vb.height).toFixed(3) } }, map, tip),
    h("div.map-legend", {},
      h("span", {}, h("i.swatch", { style: { background: "rgba(244,63,94,.35)", borderColor: "#f43f5e" } }), t("critical incident open")),
      h("span", {}, h("i.swatch", { style: { background: "rgba(251,146,60,.3)", borderColor: "#fb923c" } }), t("incidents open")),
      h("span", {}, h("i.swatch", { style: { background: "rgba(45,212,191,.08)", borderColor: "#3b5168" } }), t("quiet")),
      h("span", {}, svgDot("#f43f5e"), t("open incident")), h("span", {}, svgDot("#7cc4ff"), t("camera")),
      h("span", {}, svgDot("#f43f5e", false, true), t("camera lost")), h("span", {}, svgDot("#2dd4bf", true), t("sensor"))));
  root.replaceChildren(
    h("div.page-head", {}, h("h1", {}, t("Map")), h("span.sub", {}, t("{grids} grids · {n} open incidents", {
      grids: cells().length, n: state.incidents.length })),
      h("span.muted", { style: { marginLeft: "auto" } }, t("Scroll to zoom, drag to pan, click a grid for its incidents"))),
    h("div.grid-2", {}, wrap, side()));
}

function svgDot(color, diamond = false, ring = false) {
  return h("i", { style: { width: "10px", height: "10px", background: ring ? "transparent" : color, borderRadius: diamond ? "1px" : "50%",
    border: ring ? `2px solid ${color}` : "", boxSizing: "border-box", transform: diamond ? "rotate(45deg)" : "", display: "inline-block" } });
}

// A camera marker's look from its state: streaming, lost, or not running (stopped, offline, disabled).
const cameraClass = (s) => (s === "streaming" ? "" : s === "lost" ? "lost" : "off");

function side() {
  const grid = state.grids.find((g) => g.id === state.selected);
  if (!grid) {
    const busy = cells()
      .map((g) => ({ ...g, n: state.incidents.filter((i) => i.grid_id === g.id).length })).sort((a, b) => b.n - a.n);
    return h("section.panel.map-side", {}, h("header", {}, h("h2", {}, t("Grids"))),
      h("table.plain", {}, h("tbody", {}, busy.map((g) => h("tr", { style: { cursor: "pointer" }, onclick: () => { state.selected = g.id; render(); } },
        h("td", {}, h("b", {}, g.name), h("div.inc-sub.mono", {}, g.id)),
        h("td", { style: { textAlign: "right" } }, g.n ? h("span.badge.sev-major", {}, t("{n} open", { n: g.n })) : h("span.faint", {}, t("quiet"))))))));
  }
  const incidents = state.incidents.filter((i) => i.grid_id === grid.id);
  const people = (grid.people || []).map((p) => (typeof p === "string" ? p : p.name || p.display_name || p.user || p.username)).join(", ");
  return h("section.panel.map-side", { id: "grid-panel" },
    h("header", {}, h("div", {}, h("h2", {}, grid.name), h("div.inc-sub.mono", {}, `${grid.id} · ${levelLabel(grid.level)}${grid.parent ? " · " + grid.parent : ""}`)),
      h("button.ghost", { style: { marginLeft: "auto" }, onclick: () => { state.selected = null; history.replaceState(null, "", location.pathname); render(); } }, t("All grids"))),
    h("div.body.stack", {},
      people ? h("div.muted", {}, t("Responsible: {people}", { people })) : null,
      h("a.btn", { href: `/console/?grid=${encodeURIComponent(grid.id)}` }, t("Open on the board")),
      incidents.length ? h("table.plain", {}, h("tbody", {}, incidents.map((i) => h("tr", {},
        h("td", {}, sevBadge(i.severity)),
        h("td", {}, h("a", { href: `/console/incidents/${i.id}` }, incidentTitle(i)), h("div.inc-sub", {}, `${sourceName(i)} · ${fmtAgo(i.opened_at)}`)),
        h("td", {}, statusBadge(i.status)), h("td.nowrap", {}, countdown(i))))))
        : h("div.empty", {}, h("b", {}, t("No open incidents")), t("This grid is quiet."))));
}

(async () => {
  await shell("map");
  await load();
  let pending = null;
  liveEvents(() => { clearTimeout(pending); pending = setTimeout(() => load().catch(() => {}), 300); }, setLive);
  setInterval(() => tickCountdowns(root), 1000);
})().catch((err) => toast(err.message, "error"));
