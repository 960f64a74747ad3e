// Figures: incidents per day by type, time to acknowledge and resolve, on-time closure per
// grid, false alarms per camera; all from GET /api/figures, drawn as inline SVG.
import { gridsById, loadCameraNames } from "./actions.js";
import { get } from "./api.js";
import { LANG, t } from "./i18n.js";
import { hbars, stackedColumns } from "./charts.js";
import { scorecardsPanel } from "./scorecards.js";
import { $, cameraName, fill, fmtDuration, h, shell, toast, typeLabel } from "./ui.js";

const root = $("#app");
const DAY_MS = 24 * 3600 * 1000;
let days = Number(new URLSearchParams(location.search).get("days")) || 14;
let user = null;
let gridById = new Map();   // the bars name grids, not ids
const gridLabel = (id) => gridById.get(id)?.name || id;

const pct = (v) => (v == null ? "—" : `${Math.round(v * 100)}%`);
const dur = (s) => (s == null ? "—" : fmtDuration(s * 1000));

function dayBounds(n) {
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  return Array.from({ length: n }, (_, i) => {
    const start = new Date(today.getTime() - (n - 1 - i) * DAY_MS);
    return { start, end: new Date(start.getTime() + DAY_MS) };
  });
}

async function render() {
  const bounds = dayBounds(days);
  const since = bounds[0].start.toISOString();
  const until = bounds[bounds.length - 1].end.toISOString();
  // One request for the period per grid, one per day for the daily counts (the API sums per period).
  const [period, ...daily] = await Promise.all([
    get("/api/figures", { since, until }),
    ...bounds.map((b) => get("/api/figures", { since: b.start.toISOString(), until: b.end.toISOString() })),
  ]);
  const total = period.items.find((r) => r.grid_id == null) || period.items[period.items.length - 1] || {};
  const grids = period.items.filter((r) => r.grid_id != null);
  const dayRows = daily.map((d, i) => {
    const all = d.items.find((r) => r.grid_id == null) || {};
    return { label: bounds[i].start.toLocaleDateString(LANG, { month: "short", day: "numeric" }), values: all.by_type || {} };
  });
  const types = [...new Set(dayRows.flatMap((r) => Object.keys(r.values)))].sort();
  const typedRows = dayRows.map((r) => ({ label: r.label, values: Object.fromEntries(Object.entries(r.values).map(([k, v]) => [typeLabel(k), v])) }));
  const cameras = Object.entries(total.cameras || {}).map(([id, c]) => ({ label: cameraName(id), value: c.rate || 0,
    text: `${pct(c.rate)} (${c.false_alarms}/${c.incidents})` })).sort((a, b) => b.value - a.value).slice(0, 12);
  const q = new URLSearchParams({ since, until });

  fill(root,
    h("div.page-head", {}, h("h1", {}, t("Figures")), h("span.sub", {}, t("last {n} days", { n: days })),
      h("div.filters", { style: { marginLeft: "auto" } },
        h("select", { "aria-label": t("Period"), onchange: (e) => { days = Number(e.target.value); history.replaceState(null, "", `?days=${days}`); render().catch(fail); } },
          [7, 14, 30].map((d) => h("option", { value: d, selected: d === days ? true : null }, t("Last {n} days", { n: d })))),
        h("a.btn", { href: `/api/figures?${q}&format=csv&headings=names`, download: "gridwatch-figures.csv" }, "CSV"),
        h("a.btn", { href: `/api/figures?${q}&format=html`, target: "_blank" }, t("Printable report")))),
    h("div.kpis", {},
      kpi(t("Incidents"), total.incidents ?? 0),
      kpi(t("Median time to acknowledge"), dur(total.ack_median_s), total.ack_p90_s != null ? `p90 ${dur(total.ack_p90_s)}` : ""),
      kpi(t("Median time to resolve"), dur(total.resolve_median_s), total.resolve_p90_s != null ? `p90 ${dur(total.resolve_p90_s)}` : ""),
      kpi(t("Closed on time"), pct(total.on_time_closure_rate), t("{n} of {due} due", { n: total.closed_on_time ?? 0, due: total.cases_due ?? 0 })),
      kpi(t("False alarms"), pct(total.false_alarm_rate), t("{n} dismissed as false", { n: total.false_alarms ?? 0 })),
      kpi(t("Reporters satisfied"), pct(total.satisfaction_rate), t("{n} rated", { n: total.rated ?? 0 }))),
    h("section.panel", { id: "per-day", style: { marginBottom: "16px" } }, h("header", {}, h("h2", {}, t("Incidents per day by type"))),
      h("div.body", {}, stackedColumns(typedRows, types.map(typeLabel)))),
    h("div.grid-2.halves", { style: { marginBottom: "16px" } },
      h("section.panel", { id: "ack-resolve" }, h("header", {}, h("h2", {}, t("Time to acknowledge and resolve")), h("span.muted", {}, t("median per grid"))),
        h("div.body.stack", {},
          h("h3", {}, t("Acknowledge")),
          hbars(grids.map((r) => ({ label: gridLabel(r.grid_id), value: r.ack_median_s || 0, text: dur(r.ack_median_s) })), { color: "#7cc4ff" }),
          h("h3", {}, t("Resolve")),
          hbars(grids.map((r) => ({ label: gridLabel(r.grid_id), value: r.resolve_median_s || 0, text: dur(r.resolve_median_s) })), { color: "#a78bfa" }))),
      h("div.stack", {},
        h("section.panel", { id: "on-time" }, h("header", {}, h("h2", {}, t("On-time closure rate")), h("span.muted", {}, t("per grid, cases due in the period"))),
          h("div.body", {}, hbars(grids.map((r) => ({ label: gridLabel(r.grid_id), value: r.on_time_closure_rate ?? 0,
            text: r.cases_due ? t("{rate} of {n}", { rate: pct(r.on_time_closure_rate), n: r.cases_due }) : t("no cases") })), {
            max: 1, colorOf: (it) => (it.value >= 0.9 ? "#34d399" : it.value >= 0.7 ? "#facc15" : "#f43f5e") }))),
        h("section.panel", { id: "false-alarms" }, h("header", {}, h("h2", {}, t("False-alarm rate per camera"))),
          h("div.body", {}, hbars(cameras, { max: 1, color: "#fb923c" }))))),
    // scorecards rank people and grids: for the desk and other systems, not for a grid worker's own screen
    user.role === "grid_worker" ? null : scorecardsPanel(since, until));
}

const kpi = (label, value, sub = "") => h("div.kpi.panel", {}, h("div.label", {}, label), h("div.value", {}, value), sub ? h("div.inc-sub", {}, sub) : null);
const fail = (err) => toast(err.message, "error");

(async () => {
  user = await shell("figures", { live: false });
  [gridById] = await Promise.all([gridsById(), loadCameraNames()]);
  await render();
})().catch(fail);
