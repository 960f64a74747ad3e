// One incident: snapshots with their tracks, the audit trail, facts, and the actions allowed.
import { get, liveEvents } from "./api.js";
import { ACTION_ORDER, actionTitle, gridsById, loadCameraNames, peopleFor, personLink, primaryFor, runAction, SHORTCUT } from "./actions.js";
import { clipsPanel } from "./clips.js";
import { livePanel } from "./live.js";
import { photoUrls, snapshotsView, timeline } from "./evidence.js";
import { N_, t } from "./i18n.js";
import { gridMap } from "./mapdraw.js";
import {
  $, cameraName, countdown, fmtAgo, fmtTime, h, incidentTitle, levelBadge, setLive, sevBadge, shell, statusBadge, tickCountdowns, toast, typeLabel,
} from "./ui.js";

const id = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
const root = $("#app");
let current = null;
let clips = null;   // one panel for the page's life: a playing clip survives re-renders
let live = null;    // the camera's live frame, kept across re-renders too (it stops once removed)
let primary = primaryFor(null);   // the actions highlighted for the signed-in user's role
let grids = new Map();   // the grids by id, to show their names, not ids
let people = [];         // who can take the incident (its grid's and those above), with their phones
const snapshots = { all: false };   // "show all" stays as chosen while live alerts re-render the page

async function load() {
  try {
    current = await get(`/api/incidents/${encodeURIComponent(id)}`);
  } catch (err) {
    root.replaceChildren(h("div.panel", {}, h("div.empty", {},
      h("b", {}, err.status === 404 ? t("Incident #{id} not found", { id }) : t("Cannot load this incident")),
      err.status === 404 ? t("It does not exist, or it belongs to a grid outside your area.") : err.message,
      h("div", { style: { marginTop: "14px" } }, h("a.btn", { href: "/console/" }, t("Back to the board"))))));
    document.title = `${t("Not found")} · gridwatch`;
    return;
  }
  if (clips) clips.refresh();      // a new alert may have brought a new clip
  else clips = clipsPanel(current.id, { onReady: load });
  [grids, people] = await Promise.all([gridsById(), peopleFor(current.grid_id), loadCameraNames()]);
  render(current);
}

const person = (user) => personLink(people, user);
const SOURCE_KINDS = { camera: N_("Camera"), sensor: N_("Sensor"), edge: N_("Edge"), report: N_("Report") };
const gridName = (inc) => grids.get(inc.grid_id)?.name || inc.grid_id || t("unrouted");

/** What, where, since when, the deadline and who, with the actions: the top of the page, sticky on a phone. */
function summary(inc, allowed) {
  return h("section.panel.incident-top", { id: "summary" },
    h("div.summary-facts", {},
      h("span.what", {}, h("b", {}, typeLabel(inc.type)), inc.camera_id ? h("span.faint", { title: inc.camera_id }, ` ${cameraName(inc.camera_id)}`) : null),
      h("span.where", { title: inc.grid_id || "" }, gridName(inc)),
      h("span.since", { title: inc.opened_at }, t("since {time}", { time: fmtTime(inc.opened_at) })),
      h("span.deadline", {}, countdown(inc)),
      h("span.who", {}, inc.assignee ? person(inc.assignee) : h("span.faint", {}, t("not yet dispatched"))),
      (inc.alert_count ?? 0) > 1 ? h("span.muted", {}, t("{n} alerts attached", { n: inc.alert_count })) : null),
    allowed.length ? h("div.actions", { id: "actions" }, allowed.map((a) =>
      h("button", { class: primary.has(a) ? "primary" : a === "dismiss" ? "danger" : "", dataset: { action: a }, onclick: () => act(a) },
        actionTitle(a), SHORTCUT[a] ? h("kbd", {}, SHORTCUT[a]) : null)))
      : h("div.muted", {}, t("No actions available to you in this state.")));
}

function render(inc) {
  document.title = `#${inc.id} ${incidentTitle(inc)} · gridwatch`;
  const allowed = ACTION_ORDER.filter((a) => (inc.allowed_actions || []).includes(a));
  const alerts = inc.alerts || [];
  const photos = photoUrls(inc);
  root.replaceChildren(
    h("div.page-head", {},
      h("a.btn.ghost", { href: "/console/" }, `← ${t("Board")}`),
      h("div", {}, h("h1", {}, incidentTitle(inc)),
        h("div.sub", {}, t("Incident #{id} · {type} · opened {time} ({ago})", { id: inc.id, type: typeLabel(inc.type),
          time: fmtTime(inc.opened_at), ago: fmtAgo(inc.opened_at) }))),
      h("div.row", { style: { marginLeft: "auto" } }, sevBadge(inc.severity), statusBadge(inc.status), levelBadge(inc.level))),
    summary(inc, allowed),
    h("div.grid-2", {},
      h("div.stack", {},
        h("section.panel", { id: "snapshots" }, h("header", {}, h("h2", {}, t("Snapshots")),
          h("span.muted", {}, t("{n} alerts attached", { n: inc.alert_count ?? alerts.length }))),
          h("div.body", {}, snapshotsView(alerts, snapshots))),
        inc.camera_id ? (live ||= livePanel(inc.camera_id)) : null,
        inc.source_kind === "report" ? reportPanel(inc) : null,
        clips.el,
        photos.length ? h("section.panel", {}, h("header", {}, h("h2", {}, t("Photos"))),
          h("div.body.photos", {}, photos.map((u) => h("a", { href: u, target: "_blank" }, h("img", { src: u, alt: t("Photo") }))))) : null,
        h("section.panel", {}, h("header", {}, h("h2", {}, t("Location")), h("span.muted", {}, gridName(inc))),
          h("div.minimap", { id: "minimap" }))),
      h("div.stack", {},
        h("section.panel", {}, h("header", {}, h("h2", {}, t("Details"))),
          h("div.body", {}, h("dl.facts", {},
            fact(t("Deadline"), countdown(inc)),
            fact(t("Grid"), h("a", { href: `/console/map?grid=${encodeURIComponent(inc.grid_id || "")}`, title: inc.grid_id || "" },
              gridName(inc))),
            fact(t("Escalation level"), levelBadge(inc.level)),
            fact(t("Responsible"), inc.assignee ? person(inc.assignee) : h("span.faint", {}, t("not yet dispatched"))),
            fact(t("Source"), h("span", {}, SOURCE_KINDS[inc.source_kind] ? t(SOURCE_KINDS[inc.source_kind]) : inc.source_kind || "", " ",
              h("span.mono", {}, inc.source_id || ""))),
            inc.camera_id ? fact(t("Camera"), h("span", {}, cameraName(inc.camera_id),
              cameraName(inc.camera_id) !== inc.camera_id ? h("span.mono.faint", {}, ` ${inc.camera_id}`) : null)) : null,
            fact(t("Alerts"), inc.alert_count ?? alerts.length),
            fact(t("Opened"), fmtTime(inc.opened_at, { seconds: true })),
            inc.ack_due_at ? fact(t("Acknowledge by"), fmtTime(inc.ack_due_at)) : null,
            inc.due_at ? fact(t("Resolve by"), fmtTime(inc.due_at)) : null,
            inc.acknowledged_at ? fact(t("Acknowledged"), fmtTime(inc.acknowledged_at, { seconds: true })) : null,
            inc.resolved_at ? fact(t("Handled"), fmtTime(inc.resolved_at, { seconds: true })) : null,
            inc.closed_at ? fact(t("Closed"), fmtTime(inc.closed_at, { seconds: true })) : null,
            inc.location ? fact(t("Coordinates"), h("span.mono", {}, `${(+inc.location.lat).toFixed(5)}, ${(+inc.location.lon).toFixed(5)}`)) : null))),
        h("section.panel", {}, h("header", {}, h("h2", {}, t("Timeline")), h("span.muted", {}, t("audit trail"))),
          h("div.body", { id: "timeline" }, timeline(inc.timeline))))));
  drawMinimap(inc);
}

const fact = (label, value) => [h("dt", {}, label), h("dd", {}, value)];

// What a person reported (Open311 or a patrol); who they are only for those who handle it.
function reportPanel(inc) {
  const body = h("div.body", {}, h("div.muted", {}, "…"));
  get(`/api/incidents/${encodeURIComponent(inc.id)}/report`).then((r) => {
    const who = r.reporter ? Object.entries(r.reporter).map(([k, v]) => `${k}: ${v}`).join(" · ") : null;
    body.replaceChildren(h("dl.facts", {},
      fact(t("Reported through"), r.channel === "patrol" ? t("patrol") : "Open311"),
      fact(t("Description"), r.description),
      r.address ? fact(t("Address"), r.address) : null,
      r.media_url ? fact(t("Photo"), h("a", { href: r.media_url, target: "_blank" }, r.media_url)) : null,
      who ? fact(t("Reporter"), who) : null,
      fact(t("Reported"), fmtTime(r.created_at, { seconds: true }))));
  }).catch((err) => body.replaceChildren(h("div.muted", {}, err.message)));
  return h("section.panel", { id: "report" }, h("header", {}, h("h2", {}, t("Report"))), body);
}

async function drawMinimap(inc) {
  const host = $("#minimap");
  try {
    const geo = await get("/api/grids.geojson");
    const marker = inc.location ? [{ lon: inc.location.lon, lat: inc.location.lat, kind: "incident" }] : [];
    host.replaceChildren(gridMap(geo, { highlight: inc.grid_id, markers: marker, focus: inc.grid_id, interactive: false, labels: false }));
  } catch {
    host.replaceChildren(h("div.empty", {}, t("Map unavailable.")));
  }
}

async function act(action) {
  try {
    const people = ["dispatch", "reassign"].includes(action) ? await peopleFor(current.grid_id) : [];
    const updated = await runAction(current.id, action, { people });
    if (!updated) return;
    toast(t("{action}: done", { action: actionTitle(action) }));
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
