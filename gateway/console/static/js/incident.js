// One incident: snapshots with their tracks, the audit trail, facts, and the actions allowed.
import { get, liveEvents } from "./api.js";
import { ACTION_ORDER, actionTitle, peopleFor, primaryFor, runAction, SHORTCUT } from "./actions.js";
import { clipsPanel } from "./clips.js";
import { photoUrls, snapshotFigure, timeline } from "./evidence.js";
import { gridMap } from "./mapdraw.js";
import {
  $, countdown, fmtAgo, fmtTime, h, incidentTitle, levelBadge, setLive, sevBadge, shell, statusBadge, tickCountdowns, toast, typeLabel,
} from "./ui.js";

const id = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
const root = $("#app");
let current = null;
let clips = null;   // one panel for the page's life: a playing clip survives re-renders
let primary = primaryFor(null);   // the actions highlighted for the signed-in user's role

async function load() {
  try {
    current = await get(`/api/incidents/${encodeURIComponent(id)}`);
  } catch (err) {
    root.replaceChildren(h("div.panel", {}, h("div.empty", {},
      h("b", {}, err.status === 404 ? `Incident #${id} not found` : "Cannot load this incident"),
      err.status === 404 ? "It does not exist, or it belongs to a grid outside your area." : err.message,
      h("div", { style: { marginTop: "14px" } }, h("a.btn", { href: "/console/" }, "Back to the board")))));
    document.title = "Not found · gridwatch";
    return;
  }
  if (clips) clips.refresh();      // a new alert may have brought a new clip
  else clips = clipsPanel(current.id, { onReady: load });
  render(current);
}

function render(inc) {
  document.title = `#${inc.id} ${incidentTitle(inc)} · gridwatch`;
  const allowed = ACTION_ORDER.filter((a) => (inc.allowed_actions || []).includes(a));
  const alerts = inc.alerts || [];
  const photos = photoUrls(inc);
  root.replaceChildren(
    h("div.page-head", {},
      h("a.btn.ghost", { href: "/console/" }, "← Board"),
      h("div", {}, h("h1", {}, incidentTitle(inc)),
        h("div.sub", {}, `Incident #${inc.id} · ${typeLabel(inc.type)} · opened ${fmtTime(inc.opened_at)} (${fmtAgo(inc.opened_at)})`)),
      h("div.row", { style: { marginLeft: "auto" } }, sevBadge(inc.severity), statusBadge(inc.status), levelBadge(inc.level))),
    h("div.grid-2", {},
      h("div.stack", {},
        h("section.panel", {}, h("header", {}, h("h2", {}, "Snapshots"), h("span.muted", {}, `${alerts.length} alert${alerts.length === 1 ? "" : "s"} attached`)),
          h("div.body", {}, alerts.length ? h("div.snapshots", {}, alerts.map(snapshotFigure)) : h("div.muted", {}, "No alerts attached."))),
        clips.el,
        photos.length ? h("section.panel", {}, h("header", {}, h("h2", {}, "Resolution photos")),
          h("div.body.photos", {}, photos.map((u) => h("a", { href: u, target: "_blank" }, h("img", { src: u, alt: "Resolution photo" }))))) : null,
        h("section.panel", {}, h("header", {}, h("h2", {}, "Location"), h("span.muted", {}, inc.grid_id || "unrouted")),
          h("div.minimap", { id: "minimap" }))),
      h("div.stack", {},
        h("section.panel", {}, h("header", {}, h("h2", {}, "Actions")),
          h("div.body", {}, allowed.length ? h("div.actions", { id: "actions" }, allowed.map((a) =>
            h("button", { class: primary.has(a) ? "primary" : a === "dismiss" ? "danger" : "", dataset: { action: a }, onclick: () => act(a) },
              actionTitle(a), SHORTCUT[a] ? h("kbd", {}, SHORTCUT[a]) : null)))
            : h("div.muted", {}, "No actions available to you in this state."))),
        h("section.panel", {}, h("header", {}, h("h2", {}, "Details")),
          h("div.body", {}, h("dl.facts", {},
            fact("Deadline", countdown(inc)),
            fact("Grid", h("a", { href: `/console/map?grid=${encodeURIComponent(inc.grid_id || "")}` }, inc.grid_id || "unrouted")),
            fact("Escalation level", levelBadge(inc.level)),
            fact("Responsible", inc.assignee || h("span.faint", {}, "not yet dispatched")),
            fact("Source", h("span.mono", {}, `${inc.source_kind || ""} ${inc.source_id || ""}`)),
            inc.camera_id ? fact("Camera", h("span.mono", {}, inc.camera_id)) : null,
            fact("Alerts", inc.alert_count ?? alerts.length),
            fact("Opened", fmtTime(inc.opened_at, { seconds: true })),
            inc.ack_due_at ? fact("Acknowledge by", fmtTime(inc.ack_due_at)) : null,
            inc.due_at ? fact("Resolve by", fmtTime(inc.due_at)) : null,
            inc.acknowledged_at ? fact("Acknowledged", fmtTime(inc.acknowledged_at, { seconds: true })) : null,
            inc.resolved_at ? fact("Resolved", fmtTime(inc.resolved_at, { seconds: true })) : null,
            inc.closed_at ? fact("Closed", fmtTime(inc.closed_at, { seconds: true })) : null,
            inc.location ? fact("Coordinates", h("span.mono", {}, `${(+inc.location.lat).toFixed(5)}, ${(+inc.location.lon).toFixed(5)}`)) : null))),
        h("section.panel", {}, h("header", {}, h("h2", {}, "Timeline"), h("span.muted", {}, "audit trail")),
          h("div.body", { id: "timeline" }, timeline(inc.timeline))))));
  drawMinimap(inc);
}

const fact = (label, value) => [h("dt", {}, label), h("dd", {}, value)];

async function drawMinimap(inc) {
  const host = $("#minimap");
  try {
    const geo = await get("/api/grids.geojson");
    const marker = inc.location ? [{ lon: inc.location.lon, lat: inc.location.lat, kind: "incident" }] : [];
    host.replaceChildren(gridMap(geo, { highlight: inc.grid_id, markers: marker, focus: inc.grid_id, interactive: false, labels: false }));
  } catch {
    host.replaceChildren(h("div.empty", {}, "Map unavailable."));
  }
}

async function act(action) {
  try {
    const people = ["dispatch", "reassign"].includes(action) ? await peopleFor(current.grid_id) : [];
    const updated = await runAction(current.id, action, { people });
    if (!updated) return;
    toast(`${actionTitle(action)}: done`);
    await load();
  } catch (err) {
    toast(err.message, "error");
  }
}

document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, select, textarea, .dialog") || e.ctrlKey || e.metaKey || e.altKey || !current) return;
  const action = Object.keys(SHORTCUT).find((a) => SHORTCUT[a] === e.key);
  if (action && (current.allowed_actions || []).includes(action)) { e.preventDefault(); act(action); }
  if (e.key === "Escape" || e.key === "b") location.href = "/console/";
});

(async () => {
  const me = await shell("board");
  primary = primaryFor(me && me.role);
  await load();
  // Refresh when someone else acts on this incident (e.g. the worker on the phone).
  liveEvents((item) => { if (item.incident && String(item.incident.id) === String(id) && !$(".dialog")) load(); }, setLive);
  setInterval(() => tickCountdowns(root), 1000);
})().catch((err) => toast(err.message, "error"));
