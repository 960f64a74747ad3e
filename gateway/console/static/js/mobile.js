// The grid worker's phone view: my open incidents, acknowledge, resolve with a note and a
// photo, and my history. Hash routes: #/ (to do), #/history, #/i/<id>.
import { get, liveEvents, logout, me, post } from "./api.js";
import { everyone, gridsById, loadCameraNames, personLink, resolveWithPhoto } from "./actions.js";
import { clipsPanel } from "./clips.js";
import { photoUrls, snapshotsView, timeline } from "./evidence.js";
import { languageSwitch, t, translatePage } from "./i18n.js";
import { reportForm } from "./report.js";
import {
  $, chime, countdown, fill, icon, fmtAgo, fmtTime, h, incidentTitle, levelBadge, sevBadge, statusBadge, statusLabel, tickCountdowns,
  sourceName, toast, typeLabel,
} from "./ui.js";

const TODO = ["open", "dispatched", "acknowledged"];
const DONE = ["resolved", "verified", "closed", "dismissed"];
const root = $("#app");
let user = null;
const known = new Set();
let editing = false;   // a half-written report must survive live refreshes
let clips = null;      // the open incident's clips panel, kept across refreshes so a clip plays on
let grids = new Map(); // grid id -> grid, and everyone visible: names, not ids
let people = [];
const snapshots = { all: false };   // "show all" stays as chosen across live refreshes
const gridName = (id) => grids.get(id)?.name || id;
const who = (user) => personLink(people, user);

function frame(title, body, { back = false } = {}) {
  const tab = location.hash.startsWith("#/history") ? "history" : "todo";
  root.className = "phone";
  fill(root,
    h("header.phone-top", {},
      back ? h("button.back", { onclick: () => history.length > 1 ? history.back() : (location.hash = "#/") , "aria-label": t("Back") }, icon("back")) : null,
      h("div.brand", {}, h("img", { src: "/console/static/logo.svg", alt: "" }), h("div", {}, title, h("small", { style: { display: "block" }, title: whoami() },
        whoami()))),
      languageSwitch(),
      h("button", { onclick: logout }, t("Sign out"))),
    back ? null : h("nav.tabs", {},
      h("button", { class: tab === "todo" ? "active" : "", onclick: () => { location.hash = "#/"; } }, t("To do")),
      h("button", { class: tab === "history" ? "active" : "", onclick: () => { location.hash = "#/history"; } }, t("History")),
      h("button", { id: "report", onclick: () => { location.hash = "#/report"; } }, t("Report a problem"))),
    h("div.phone-body", {}, body));
  topBarHeight.disconnect();
  topBarHeight.observe(root.querySelector(".phone-top"));
}

// The incident's sticky summary sits right under the top bar, whose height follows the name, the
// language and the fonts as they load.
const topBarHeight = new ResizeObserver(([entry]) =>
  root.style.setProperty("--phone-top-h", `${entry.target.getBoundingClientRect().height}px`));

const whoami = () => {
  const name = user.display_name || user.username;
  const grid = user.grid_name || user.grid_id;   // the grid by name where the gateway knows it
  return grid && !name.includes(grid) ? `${name} · ${grid}` : name;
};
const mine = (i) => !i.assignee || i.assignee === user.username;

async function list(kind, current) {
  // To do: open work in my grid that is mine or nobody's yet; history: what I handled.
  const data = kind === "todo"
    ? await get("/api/incidents", { status: TODO.join(","), limit: 200 })
    : await get("/api/incidents", { status: DONE.join(","), assignee: user.username, limit: 100 });
  if (!current()) return;
  const order = (a, b) => (kind === "todo" ? String(a.due_at || "~").localeCompare(String(b.due_at || "~")) : String(b.opened_at).localeCompare(String(a.opened_at)));
  const items = (kind === "todo" ? data.items.filter(mine) : data.items).sort(order);
  // the rest of my area's open work, someone else's (a leader's grids, a professional's case): seen, not lost
  const others = kind === "todo" ? data.items.filter((i) => !mine(i)).sort(order) : [];
  const area = others.length ? h("section", { id: "area" }, h("h2.area-head", {}, t("Active in your area ({n})", { n: others.length })),
    others.map((i) => card(i, { assignee: true }))) : null;
  frame(kind === "todo" ? t("My tasks") : t("History"),
    items.length ? [items.map((i) => card(i)), area]
      : area ? [h("div.muted", { id: "none-mine" }, t("Nothing is assigned to you yourself.")), area]   // (said first: then what is on)
        : h("div.empty", {}, h("b", {}, kind === "todo" ? t("Nothing to do") : t("No history yet")),
          kind === "todo" ? t("New incidents for your grid appear here.") : t("Incidents you have handled appear here.")));
  tickCountdowns(root);
}

function finished(inc) {
  const at = inc.closed_at || inc.dismissed_at || inc.verified_at || inc.resolved_at;
  return h("span.muted", {}, at ? `${statusLabel(inc.status)} ${fmtTime(at)}` : statusLabel(inc.status));
}

function card(inc, { assignee = false } = {}) {
  return h("div.card.tap", { dataset: { id: inc.id }, class: `sev-${inc.severity}`, onclick: () => { location.hash = `#/i/${inc.id}`; } },
    h("span.sevstripe"),
    h("div.grow", {},
      h("div.title", {}, incidentTitle(inc)),
      h("div.meta", {}, [gridName(inc.grid_id), sourceName(inc), fmtAgo(inc.opened_at)].filter(Boolean).join(" · ")),
      assignee && inc.assignee ? h("div.meta.who", {}, `${t("Responsible")}: `, who(inc.assignee)) : null,
      h("div.row", { style: { marginTop: "8px" } }, statusBadge(inc.status), sevBadge(inc.severity), h("span.grow"), h("span.due", {}, DONE.includes(inc.status) ? finished(inc) : countdown(inc)))));
}

async function detail(id, current) {
  let inc;
  try {
    inc = await get(`/api/incidents/${encodeURIComponent(id)}`);
    if (editing || !current()) return;   // the worker started a report meanwhile: keep it on screen
  } catch (err) {
    if (!current()) return;
    frame(t("Incident"), h("div.card", {}, h("div.empty", {}, h("b", {}, err.status === 404 ? t("Not found") : t("Cannot load")),
      err.status === 404 ? t("This incident does not exist or is outside your grid.") : err.message)), { back: true });
    return;
  }
  const allowed = inc.allowed_actions || [];
  if (!clips || clips.incident !== String(inc.id)) {
    clips = { ...clipsPanel(inc.id, { compact: true, onReady: () => { if (!editing && !$(".dialog")) route(); } }),
      incident: String(inc.id), alerts: inc.alert_count };
  } else if (clips.alerts !== inc.alert_count || !clips.el.isConnected) {
    clips.alerts = inc.alert_count;   // a new alert may bring a new clip; or back from the list
    clips.refresh();
  }
  const photo = h("input", { type: "file", accept: "image/*", capture: "environment", name: "photo",
    onchange: () => {
      const f = photo.files[0];
      pick.querySelector("img")?.remove();
      if (f) pick.append(h("img", { src: URL.createObjectURL(f), alt: t("Selected photo") }));
      pickText.classList.toggle("hidden", !!f);
    } });
  const pickText = h("span.row", {}, icon("camera"), t("Add a photo"));
  const pick = h("label.photo-pick", {}, pickText, photo);
  const note = h("textarea", { name: "note", placeholder: t("What did you find, what did you do?") });
  const busy = (b, on) => { b.disabled = on; };
  const resolveForm = allowed.includes("resolve") ? h("form.card.stack", { id: "resolve-form", oninput: () => { editing = true; }, onchange: () => { editing = true; }, onsubmit: async (e) => {
    e.preventDefault();
    if (!note.value.trim()) { toast(t("Please describe what was done."), "error"); note.focus(); return; }
    const b = e.target.querySelector("button[type=submit]");
    busy(b, true);
    try {
      await resolveWithPhoto(inc.id, note.value.trim(), photo.files[0]);
      editing = false;
      toast(t("Reported. Thank you."));
      location.hash = "#/";
    } catch (err) { toast(err.message, "error"); busy(b, false); }
  } }, h("h2", {}, t("Report back")), note, pick, h("button.primary", { type: "submit" }, t("Resolve"))) : null;
  const photos = photoUrls(inc);
  const ack = allowed.includes("acknowledge") ? h("button.primary", { id: "ack", onclick: async (e) => {
    busy(e.target, true);
    try { await post(`/api/incidents/${encodeURIComponent(inc.id)}/acknowledge`, {}); toast(t("Acknowledged.")); } catch (err) { toast(err.message, "error"); }
    if (editing) e.target.remove(); else route();
  } }, t("Acknowledge — I'm on it")) : null;
  const toReport = resolveForm && !ack ? h("button", { id: "to-resolve", onclick: () => resolveForm.scrollIntoView({ block: "start", behavior: "smooth" }) },
    t("Report back")) : null;
  frame(`#${inc.id}`, [
    // what, where, since when, the deadline and who, with the action: always on screen
    h("div.card.phone-summary", { id: "summary" },
      h("div.title", {}, incidentTitle(inc)),
      h("div.meta", {}, [typeLabel(inc.type), gridName(inc.grid_id), t("since {time}", { time: fmtTime(inc.opened_at) })].filter(Boolean).join(" · ")),
      h("div.row", { style: { marginTop: "6px", flexWrap: "wrap" } }, statusBadge(inc.status), sevBadge(inc.severity), countdown(inc),
        inc.assignee ? h("span.who", {}, who(inc.assignee)) : null),
      ack || toReport ? h("div.big-actions", {}, ack, toReport) : null),
    resolveForm,
    h("div.card", {},
      h("div.row", { style: { flexWrap: "wrap" } }, levelBadge(inc.level)),
      h("dl.facts", { style: { marginTop: "12px" } },
        h("dt", {}, t("Deadline")), h("dd", {}, countdown(inc)),
        h("dt", {}, t("Opened")), h("dd", {}, fmtTime(inc.opened_at)),
        inc.location ? [h("dt", {}, t("Where")), h("dd", {}, h("a", { href: `geo:${inc.location.lat},${inc.location.lon}` },
          `${(+inc.location.lat).toFixed(5)}, ${(+inc.location.lon).toFixed(5)}`))] : null,
        h("dt", {}, t("Source")), h("dd", { title: inc.camera_id || inc.source_id || "" }, sourceName(inc) || "—"))),
    h("div.card", { id: "snapshots" }, snapshotsView(inc.alerts || [], snapshots)),
    clips.el,
    photos.length ? h("div.card", {}, h("h2", {}, t("Photos")), h("div.photos", { style: { marginTop: "8px" } }, photos.map((u) => h("img", { src: u, alt: t("Photo") })))) : null,
    h("div.card", {}, h("h2", { style: { marginBottom: "10px" } }, t("Timeline")), timeline(inc.timeline)),
  ], { back: true });
  tickCountdowns(root);
}

let routes = 0;
function route() {
  // Routes overlap (a tab tapped while a live event's refresh is loading): only the latest
  // one renders, or a slow older answer would paint the screen the worker just left.
  const n = ++routes;
  const current = () => n === routes;
  const m = location.hash.match(/^#\/i\/(.+)$/);
  if (location.hash === "#/report") {
    editing = true;  // a report being written survives live refreshes
    return reportForm().then((form) => current() && frame(t("Report a problem"), form, { back: true }));
  }
  const done = m ? detail(decodeURIComponent(m[1]), current) : list(location.hash.startsWith("#/history") ? "history" : "todo", current);
  return done.catch((err) => toast(err.message, "error"));
}

function onEvent(item) {
  const inc = item.incident || {};
  // A new task for me: a buzz and a chime, then refresh whatever is on screen.
  if (item.event === "dispatched" && inc.assignee === user.username && !known.has(`${inc.id}:${item.id}`)) {
    known.add(`${inc.id}:${item.id}`);
    navigator.vibrate?.(200);
    chime();
    toast(t("New task: {title}", { title: incidentTitle(inc) }));
  }
  if (!editing && !$(".dialog")) route();
}

(async () => {
  translatePage();
  user = await me();
  [grids, people] = await Promise.all([gridsById(), everyone(), loadCameraNames()]);
  window.addEventListener("hashchange", () => { editing = false; route(); });
  await route();
  liveEvents(onEvent);
  setInterval(() => tickCountdowns(root), 1000);
})().catch((err) => toast(err.message, "error"));
