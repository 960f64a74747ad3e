// The grid map as SVG, drawn straight from the grids' GeoJSON: no tile server needed.
// Projection: plate carrée with longitudes shrunk by cos(latitude), fitted to the bounds,
// which is accurate enough at the scale of a street office.
import { t } from "./i18n.js";
import { svg } from "./ui.js";

const WIDTH = 1000;

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return [geometry.coordinates];
  if (geometry.type === "MultiPolygon") return geometry.coordinates;
  return [];
}

function bounds(features) {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const f of features) for (const poly of rings(f.geometry)) for (const [x, y] of poly[0] || []) {
    minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y);
  }
  return [minX, minY, maxX, maxY];
}

export function projection(features) {
  const [minX, minY, maxX, maxY] = bounds(features);
  if (!Number.isFinite(minX)) {   // nothing to draw (no visible grid has a shape): an empty map, not NaN
    return { project: () => [0, 0], unproject: () => [0, 0], width: WIDTH, height: WIDTH * 0.6 };
  }
  const k = Math.cos((((minY + maxY) / 2) * Math.PI) / 180);
  const scale = WIDTH / Math.max((maxX - minX) * k, 1e-9);
  const project = ([lon, lat]) => [(lon - minX) * k * scale, (maxY - lat) * scale];
  const unproject = ([x, y]) => [minX + x / (k * scale), maxY - y / scale];
  return { project, unproject, width: WIDTH, height: (maxY - minY) * scale };
}

const pathOf = (geometry, project) => rings(geometry).map((poly) => poly.map((ring) =>
  ring.map((pt, i) => `${i ? "L" : "M"}${project(pt).map((v) => v.toFixed(1)).join(",")}`).join("") + "Z").join("")).join("");

function centroid(geometry, project) {
  const pts = (rings(geometry)[0] || [[]])[0].slice(0, -1).map(project);
  if (!pts.length) return [0, 0];
  return [pts.reduce((s, p) => s + p[0], 0) / pts.length, pts.reduce((s, p) => s + p[1], 0) / pts.length];
}

const ORDER = { street: 0, community: 1, grid: 2 };

/**
 * An <svg> of the grids. options: highlight (grid id), focus (grid id to zoom to),
 * open ({grid_id: {count, critical}}), markers ([{lon, lat, kind, state, label}]),
 * onGridClick(id), onHover(feature|null, event), interactive (wheel zoom and drag pan), labels (default true),
 * onPick(lon, lat, x, y): a tap anywhere on the map (x, y in the svg's own units).
 */
export function gridMap(geojson, options = {}) {
  // the administrative grids; a professional grid's own people (the fire duty) see only theirs, so draw it then
  const drawn = (geojson.features || []).filter((f) => f.geometry);
  const admin = drawn.filter((f) => (f.properties || {}).kind !== "professional");
  const features = admin.length ? admin : drawn;
  const { project, unproject, width, height } = projection(features);
  const root = svg("svg", { role: "img", "aria-label": t("Map of grids"), preserveAspectRatio: "xMidYMid meet" });
  const layer = svg("g");
  root.append(layer);
  if (options.tileUrl) layer.append(tiles(options.tileUrl, features, project));
  const open = options.open || {};
  const sorted = [...features].sort((a, b) => (ORDER[a.properties.level] ?? 3) - (ORDER[b.properties.level] ?? 3));
  for (const f of sorted) {
    const p = f.properties;
    const id = p.id || f.id;
    const count = open[id] ? open[id].count : p.open_incidents || 0;
    const classes = ["grid-shape", `level-${p.level}`];
    if (p.level === "grid" && count > 0) classes.push(open[id] && open[id].critical ? "has-critical" : "has-open");
    if (id === options.highlight) classes.push("highlight");
    const shape = svg("path", { d: pathOf(f.geometry, project), class: classes.join(" "), "data-grid": id, "data-count": count });
    shape.append(svg("title", {}, `${p.name} (${id})${count ? " — " + t("{n} open", { n: count }) : ""}`));
    if (options.onGridClick) shape.addEventListener("click", () => options.onGridClick(id, f));
    if (options.onHover) {
      shape.addEventListener("mousemove", (e) => options.onHover(f, e));
      shape.addEventListener("mouseleave", () => options.onHover(null));
    }
    layer.append(shape);
  }
  for (const f of options.labels === false ? [] : sorted.filter((f) => f.properties.level === "grid")) {
    const [x, y] = centroid(f.geometry, project);
    const p = f.properties;
    const count = open[p.id] ? open[p.id].count : p.open_incidents || 0;
    layer.append(svg("text", { x, y: y - 4, class: "grid-label" }, p.name || p.id));
    layer.append(svg("text", { x, y: y + 12, class: "grid-label" }, p.id,
      count ? svg("tspan", { class: "count" }, ` · ${t("{n} open", { n: count })}`) : ""));
  }
  // Incidents first, as pins standing on their point, so the camera or sensor that raised one
  // is drawn on top and stays visible beside it.
  const markers = [...(options.markers || [])].sort((a, b) => (b.kind === "incident") - (a.kind === "incident"));
  for (const m of markers) {
    if (m.lon == null || m.lat == null) continue;
    const [x, y] = project([m.lon, m.lat]);
    const mark = markerShape(m, x, y);
    if (m.label) mark.append(svg("title", {}, m.label));
    if (m.href) {
      mark.style.cursor = "pointer";
      mark.addEventListener("click", () => { location.href = m.href; });
    }
    layer.append(mark);
  }
  const pad = 24;
  let view = [-pad, -pad, width + 2 * pad, height + 2 * pad];
  const focus = options.focus && features.find((f) => (f.properties.id || f.id) === options.focus);
  if (focus) {
    // Zoom to the focused grid with its neighbours around it for context.
    const pts = rings(focus.geometry).flatMap((poly) => poly[0]).map(project);
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    const [x0, y0, x1, y1] = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
    const margin = Math.max(x1 - x0, y1 - y0) * 0.3;
    view = [x0 - margin, y0 - margin, x1 - x0 + 2 * margin, y1 - y0 + 2 * margin];
  }
  const setView = () => root.setAttribute("viewBox", view.map((v) => v.toFixed(1)).join(" "));
  setView();
  if (options.interactive) enablePanZoom(root, () => view, (v) => { view = v; setView(); });
  if (options.onPick) root.addEventListener("click", (e) => {
    const at = new DOMPoint(e.clientX, e.clientY).matrixTransform(root.getScreenCTM().inverse());
    options.onPick(...unproject([at.x, at.y]), at.x, at.y);
  });
  return root;
}

function markerShape(m, x, y) {
  const data = { "data-kind": m.kind, ...(m.id ? { "data-id": m.id } : {}) };
  if (m.kind === "sensor") {
    return svg("rect", { x: x - 6, y: y - 6, width: 12, height: 12, transform: `rotate(45 ${x} ${y})`, class: `marker-sensor ${m.state || ""}`, ...data });
  }
  if (m.kind === "incident") {
    const color = m.severity === "critical" || !m.severity ? "#f43f5e" : "#fb923c";
    // a pin: its tip on the point, its head 22 units above it
    return svg("g", { class: "marker-incident", ...data },
      svg("path", { d: `M${x},${y} l-7,-14 a9,9 0 1 1 14,0 z`, fill: color, stroke: "#fff", "stroke-width": 1.5 }),
      svg("circle", { cx: x, cy: y - 20, r: 3.5, fill: "#fff" }));
  }
  return svg("circle", { cx: x, cy: y, r: 6, class: `marker-camera ${m.state || ""}`, ...data });
}

function enablePanZoom(root, getView, setView) {
  root.addEventListener("wheel", (e) => {
    e.preventDefault();
    const [x, y, w, hgt] = getView();
    const r = root.getBoundingClientRect();
    const f = e.deltaY > 0 ? 1.15 : 1 / 1.15;
    const px = x + ((e.clientX - r.left) / r.width) * w;
    const py = y + ((e.clientY - r.top) / r.height) * hgt;
    setView([px - (px - x) * f, py - (py - y) * f, w * f, hgt * f]);
  }, { passive: false });
  let drag = null;
  root.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, view: getView(), moved: false }; });
  root.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const r = root.getBoundingClientRect();
    const [x, y, w, hgt] = drag.view;
    const s = Math.max(w / r.width, hgt / r.height);
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3) drag.moved = true;
    if (drag.moved) setView([x - (e.clientX - drag.x) * s, y - (e.clientY - drag.y) * s, w, hgt]);
  });
  root.addEventListener("pointerup", () => { setTimeout(() => { drag = null; }, 0); });
  // A drag must not count as a click on the grid underneath.
  root.addEventListener("click", (e) => { if (drag && drag.moved) e.stopPropagation(); }, true);
}

// ---------- optional base map from an XYZ tile server (only when one is configured) ----------
const MAX_TILES = 64;
const tileLon = (x, z) => (x / 2 ** z) * 360 - 180;
const tileLat = (y, z) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / 2 ** z))) * 180) / Math.PI;
const lonTile = (lon, z) => Math.floor(((lon + 180) / 360) * 2 ** z);
const latTile = (lat, z) => {
  const r = (lat * Math.PI) / 180;
  return Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * 2 ** z);
};

/** Tiles covering the grids (with a margin), placed by their corners in our projection. */
function tiles(template, features, project) {
  const [minX, minY, maxX, maxY] = bounds(features);
  const padX = (maxX - minX) * 0.5, padY = (maxY - minY) * 0.5;
  let z = Math.max(0, Math.min(19, Math.round(Math.log2((360 / Math.max(maxX - minX, 1e-6)) * 3))));
  let x0, x1, y0, y1;
  for (; z > 0; z--) {
    [x0, x1] = [lonTile(minX - padX, z), lonTile(maxX + padX, z)];
    [y0, y1] = [latTile(maxY + padY, z), latTile(minY - padY, z)];
    if ((x1 - x0 + 1) * (y1 - y0 + 1) <= MAX_TILES) break;
  }
  const g = svg("g", { class: "tiles", opacity: 0.55 });
  for (let x = x0; x <= x1; x++) for (let y = y0; y <= y1; y++) {
    const [px, py] = project([tileLon(x, z), tileLat(y, z)]);
    const [qx, qy] = project([tileLon(x + 1, z), tileLat(y + 1, z)]);
    const href = template.replace("{z}", z).replace("{x}", x).replace("{y}", y);
    g.append(svg("image", { class: "tile", href, x: px, y: py, width: qx - px, height: qy - py, preserveAspectRatio: "none" }));
  }
  return g;
}
