// The live incident board: filters, severity and deadlines at a glance, server-sent
// updates without reload, a chime and a banner for new critical incidents, keyboard actions.
import { actionTitle, everyone, gridsById, loadCameraNames, peopleFor, personLink, runAction } from "./actions.js";
import { get, liveEvents, query } from "./api.js";
import { N_, t } from "./i18n.js";
import {
  $, chime, fill, icon, countdown, fmtAgo, fmtTime, h, incidentTitle, levelBadge, levelLabel, LEVELS, OPEN_STATUSES,
  SEVERITIES, setLive, sevBadge, shell, sourceName, statusBadge, statusLabel, STATUSES, tickCountdowns, toast, typeLabel, TYPES,
} from "./ui.js";

const SEV_RANK = Object.fromEntries(SEVERITIES.map((s, i) => [s, i]));
const FINAL = ["closed", "dismissed"];
const state = { incidents: new Map(), recent: new Map(), seq: 0, selected: null, muted: localStorage.getItem("gw.muted") === "1", fresh: new Set() };
const filters = readFilters();

function readFilters() {
  const q = new URLSearchParams(location.search);
  return { grid: q.get("grid") || "", level: q.get("level") || "", type: q.get("type") || "",
    status: q.get("status") || "active", overdue: q.get("overdue") === "true" };
}

function writeFilters() {
  const q = query({ ...filters, status: filters.status === "active" ? "" : filters.status, overdue: filters.overdue ? "true" : "" });
  history.replaceState(null, "", q ? `?${q}` : location.pathname);
}

function matches(inc) {
  if (filters.grid && !within(inc.grid_id, filters.grid)) return false;
  if (filters.level && inc.level !== filters.level) return false;
  if (filters.type && inc.type !== filters.type) return false;
  if (filters.status === "active" && !OPEN_STATUSES.includes(inc.status)) return false;
  if (filters.status && filters.status !== "active" && filters.status !== "all" && inc.status !== filters.status) return false;
  if (filters.overdue && !inc.overdue) return false;
  return true;
}

// grid id -> parent id, to match live incidents against a community or street filter
const parents = new Map();
const gridNames = new Map();   // grid id -> its name: the board shows names, not ids
let people = [];               // everyone visible, for the assignee's name and phone
function within(gridId, ancestor) {
  for (let g = gridId, hops = 0; g && hops < 20; g = parents.get(g), hops++) if (g === ancestor) return true;
  return false;
}

function sorted() {
  return [...state.incidents.values()].filter(matches).sort((a, b) =>
    (FINAL.includes(a.status) - FINAL.includes(b.status)) ||
    ((SEV_RANK[a.severity] ?? 9) - (SEV_RANK[b.severity] ?? 9)) ||
    String(b.opened_at).localeCompare(String(a.opened_at)));
}

async function load() {
  const params = { grid: filters.grid, level: filters.level, type: filters.type, overdue: filters.overdue ? "true" : "", limit: 500 };
  if (filters.status !== "all") params.status = filters.status === "active" ? OPEN_STATUSES.join(",") : filters.status;
  const startSeq = state.seq;
  const data = await get("/api/incidents", params);
  state.incidents = new Map(data.items.map((i) => [i.id, i]));
  // Events that arrived while the list was loading are newer than the list: keep them.
  for (const [id, r] of state.recent) if (r.seq > startSeq) state.incidents.set(id, { ...state.incidents.get(id), ...r.inc });
  render();
}

// ---------- rendering ----------
const root = $("#app");
let tbody, kpis, banner, count;

function layout(grids) {
  const select = (name, label, options) => h("select", {
    "aria-label": label, name, onchange: (e) => { filters[name] = e.target.value; writeFilters(); load().catch(showError); },
  }, options.map(([v, text]) => h("option", { value: v, selected: filters[name] === v ? true : null }, text)));
  kpis = h("div.kpis");
  banner = h("div.alarm-banner", { role: "alert" });
  tbody = h("tbody");
  count = h("span.muted");
  root.append(
    h("div.page-head", {}, h("h1", {}, t("Incident board")), count,
      h("div.filters", { style: { marginLeft: "auto" } },
        select("grid", t("Grid"), [["", t("All grids")], ...grids.map((g) => [g.id, `${g.name || g.id} (${g.id})`])]),
        select("level", t("Level"), [["", t("All levels")], ...LEVELS.map((l) => [l, levelLabel(l)])]),
        select("type", t("Type"), [["", t("All types")], ...TYPES.map((x) => [x, typeLabel(x)])]),
        select("status", t("Status"), [["active", t("Active")], ["all", t("All statuses")], ...STATUSES.map((s) => [s, statusLabel(s)])]),
        h("label.check", {}, h("input", { type: "checkbox", name: "overdue", checked: filters.overdue || null,
          onchange: (e) => { filters.overdue = e.target.checked; writeFilters(); load().catch(showError); } }), t("Overdue only")),
        h("button.ghost", { id: "mute", title: t("Sound for new critical incidents (m)"), onclick: toggleMute }, ""))),
    banner, kpis,
    h("section.panel", {},
      h("table.board", { id: "board" },
        h("thead", {}, h("tr", {}, [N_("Severity"), N_("Incident"), N_("Grid"), N_("Level"), N_("Status"), N_("Assignee"), N_("Opened"), N_("Deadline"), N_("Alerts")].map((c) => h("th", {}, t(c))))),
        tbody),
      h("div.shortcuts", {},
        [["j/k", N_("move")], ["Enter", N_("open")], ["d", N_("dispatch")], ["v", N_("verify")], ["c", N_("close")], ["x", N_("dismiss")], ["/", N_("filter")], ["m", N_("mute")]]
          .map(([k, what]) => h("span", {}, h("kbd", {}, k), " ", t(what))))));
  renderMute();
}

function render() {
  const rows = sorted();
  const active = [...state.incidents.values()].filter((i) => OPEN_STATUSES.includes(i.status));
  kpis.replaceChildren(
    kpi(t("Active"), active.length),
    kpi(t("Critical"), active.filter((i) => i.severity === "critical").length, "critical"),
    kpi(t("Overdue"), active.filter((i) => i.overdue).length, "overdue"),
    kpi(t("Awaiting acknowledgement"), active.filter((i) => i.status === "dispatched").length),
    kpi(t("Awaiting verification"), active.filter((i) => i.status === "resolved").length));
  count.textContent = t("{n} shown", { n: rows.length });
  if (!rows.length) {
    tbody.replaceChildren(h("tr", {}, h("td", { colspan: 9 }, h("div.empty", {}, h("b", {}, t("No incidents match")), t("New incidents appear here as they open.")))));
    return;
  }
  if (!rows.some((r) => String(r.id) === state.selected)) state.selected = null;
  tbody.replaceChildren(...rows.map(row));
}

// The newest snapshot, small; live updates carry none, so a row keeps the one it had.
const thumb = (inc) => (inc.snapshot_url
  ? h("img.thumb.snapthumb", { src: inc.snapshot_url, alt: t("Snapshot"), loading: "lazy", onerror: (e) => e.target.classList.add("hidden") })
  : h("div.nothumb", { "aria-hidden": "true" }));

const kpi = (label, value, cls = "") => h("div.kpi.panel", { class: cls }, h("div.label", {}, label), h("div.value", {}, value));

function row(inc) {
  const tr = h("tr", {
    dataset: { id: inc.id },
    class: [`sevbar-${inc.severity}`, `sev-row-${inc.severity}`, String(inc.id) === state.selected ? "selected" : "", state.fresh.has(inc.id) ? "fresh" : ""].join(" "),
    onclick: () => select(inc.id), ondblclick: () => openIncident(inc.id),
  },
  h("td", {}, sevBadge(inc.severity)),
  h("td", {}, h("div.inc-cell", {}, thumb(inc), h("div", {},
    h("a.inc-title", { href: `/console/incidents/${inc.id}`, onclick: (e) => e.stopPropagation() }, incidentTitle(inc)),
    h("div.inc-sub", {}, `${typeLabel(inc.type)} · ${sourceName(inc)}`)))),
  h("td", { title: inc.grid_id || "" }, gridNames.get(inc.grid_id) || inc.grid_id || "—"),
  h("td", {}, levelBadge(inc.level)),
  h("td", {}, statusBadge(inc.status)),
  h("td.assignee", {}, inc.assignee ? personLink(people, inc.assignee) : h("span.faint", {}, t("unassigned"))),
  h("td.nowrap", { title: inc.opened_at }, fmtTime(inc.opened_at), h("div.inc-sub", {}, fmtAgo(inc.opened_at))),
  h("td.nowrap", {}, countdown(inc)),
  h("td", {}, h("span.mono", {}, inc.alert_count ?? 1)));
  return tr;
}

// ---------- live updates ----------
function onEvent(item) {
  const inc = item.incident;
  if (!inc || !inc.id) return;
  const isNew = !state.incidents.has(inc.id);
  state.seq += 1;
  state.recent.set(inc.id, { seq: state.seq, inc });
  if (state.recent.size > 500) state.recent.delete(state.recent.keys().next().value);
  state.incidents.set(inc.id, { ...(state.incidents.get(inc.id) || {}), ...inc });
  state.fresh.add(inc.id);
  setTimeout(() => state.fresh.delete(inc.id), 2500);
  render();
  if (!state.incidents.get(inc.id).snapshot_url) refreshThumbsSoon();
  if (isNew && item.event === "opened" && inc.severity === "critical" && matches(inc)) alarm(inc);
}

// A new incident's snapshot is stored after its first event: the list, looked at again shortly, brings its thumbnail.
let thumbsTimer = null;
function refreshThumbsSoon() {
  thumbsTimer = thumbsTimer || setTimeout(() => { thumbsTimer = null; load().catch(showError); }, 4000);
}

function alarm(inc) {
  banner.replaceChildren(h("span.beacon"), h("b", {}, t("New critical incident")),
    h("span", {}, `${incidentTitle(inc)} · ${sourceName(inc)} — ${t("grid {grid}", { grid: gridNames.get(inc.grid_id) || inc.grid_id || t("unrouted") })}`),
    h("a.btn.primary", { href: `/console/incidents/${inc.id}`, style: { marginLeft: "auto" } }, t("Open")),
    h("button.ghost", { onclick: () => banner.classList.remove("show") }, t("Dismiss")));
  banner.classList.remove("show");
  void banner.offsetWidth;                 // restart the flash animation
  banner.classList.add("show");
  document.title = `● ${t("New critical")} · gridwatch`;
  if (!state.muted) chime();
}

function toggleMute() {
  state.muted = !state.muted;
  localStorage.setItem("gw.muted", state.muted ? "1" : "0");
  renderMute();
  if (!state.muted) chime();               // a click also unlocks audio in the browser
}

function renderMute() {
  fill($("#mute"), icon(state.muted ? "bell-off" : "bell"), state.muted ? t("Sound off") : t("Sound on"));
}

// ---------- selection and actions ----------
function select(id) {
  state.selected = String(id);
  tbody.querySelectorAll("tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.id === state.selected));
  const tr = tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
  tr && tr.scrollIntoView({ block: "nearest" });
}

function move(step) {
  const rows = sorted();
  if (!rows.length) return;
  const i = rows.findIndex((r) => String(r.id) === state.selected);
  const next = rows[Math.max(0, Math.min(rows.length - 1, i < 0 ? 0 : i + step))];
  select(next.id);
}

const openIncident = (id) => { location.href = `/console/incidents/${id}`; };

// Every action asks what it needs in the same dialog as on the incident page: `d` whom to send it to
// (and a note), `x` why it is dismissed; nothing happens before the dialog is confirmed.
async function act(action) {
  const id = state.selected;
  if (!id) { toast(t("Select an incident first (j/k or click).")); return; }
  const inc = state.incidents.get(id) || state.incidents.get(Number(id)) || {};
  try {
    const people = action === "dispatch" ? await peopleFor(inc.grid_id) : [];
    const updated = await runAction(id, action, { people });
    if (!updated) return;
    if (updated.id) state.incidents.set(updated.id, { ...state.incidents.get(updated.id), ...updated });
    render();
    toast(t("{action}: done", { action: actionTitle(action) }));
  } catch (err) {
    toast(err.message, "error");
  }
}

document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, select, textarea, .dialog") || e.ctrlKey || e.metaKey || e.altKey) return;
  const keys = {
    j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
    Enter: () => state.selected && openIncident(state.selected), o: () => state.selected && openIncident(state.selected),
    d: () => act("dispatch"), v: () => act("verify"), c: () => act("close"), x: () => act("dismiss"),
    m: toggleMute, "/": () => root.querySelector("select[name=grid]").focus(),
  };
  if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
});

function showError(err) { toast(err.message, "error"); }

// ---------- start ----------
(async () => {
  await shell("board");
  const [byId] = await Promise.all([gridsById(), loadCameraNames()]);
  const grids = [...byId.values()];
  grids.forEach((g) => { parents.set(g.id, g.parent); gridNames.set(g.id, g.name); });
  people = await everyone();
  layout(grids);
  await load();
  // When the stream starts over from "now", reload the list so nothing in between is missed.
  liveEvents(onEvent, (st, fresh) => {
    setLive(st);
    if (st === "live" && fresh) load().catch(showError);
  });
  setInterval(() => tickCountdowns(tbody), 1000);
  window.addEventListener("focus", () => { document.title = `${t("Incident board")} · gridwatch`; });
})().catch(showError);
