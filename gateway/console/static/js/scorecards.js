// Scorecards on the figures page: per grid worker, grid, community or street for the period, a
// table sorted by any column (click its head), a chart of on-time handling, CSV and print.
import { get } from "./api.js";
import { hbars } from "./charts.js";
import { N_, t } from "./i18n.js";
import { fmtDuration, h } from "./ui.js";

const COLUMNS = [
  ["name", N_("Name")], ["found", N_("Found on patrol")], ["received", N_("Received")],
  ["on_time_handling_rate", N_("Handled on time")], ["on_time_closure_rate", N_("Closed on time")],
  ["escalations", N_("Escalated")], ["reopenings", N_("Reopened")], ["satisfaction_rate", N_("Reporters satisfied")],
  ["mean_dispatch_s", N_("Mean time to dispatch")], ["mean_close_s", N_("Mean time to close")],
];
const KINDS = [["worker", N_("Grid worker")], ["grid", N_("Grid")], ["community", N_("Community")], ["street", N_("Street office")]];

const show = (key, v) => (v == null ? "—" : key.endsWith("_rate") ? `${Math.round(v * 100)}%`
  : key.endsWith("_s") ? fmtDuration(v * 1000) : String(v));

export function scorecardsPanel(since, until) {
  const state = { kind: "worker", sort: "on_time_handling_rate", desc: true, rows: [] };
  const body = h("div.body.stack");
  const q = () => new URLSearchParams({ since, until, kind: state.kind });
  const draw = () => {
    const rows = [...state.rows].sort((a, b) => {
      const x = a[state.sort], y = b[state.sort];
      const c = x == null ? 1 : y == null ? -1 : typeof x === "string" ? x.localeCompare(y) : x - y;
      return state.desc ? -c : c;
    });
    body.replaceChildren(
      hbars(rows.slice(0, 12).map((r) => ({ label: r.name, value: r.on_time_handling_rate ?? 0,
        text: show("on_time_handling_rate", r.on_time_handling_rate) })), { max: 1, color: "#34d399" }),
      h("table.plain.sortable", { id: "scorecards-table" },
        h("thead", {}, h("tr", {}, COLUMNS.map(([key, label]) => h("th", {
          class: key === state.sort ? (state.desc ? "sorted desc" : "sorted asc") : "", style: { cursor: "pointer" },
          onclick: () => { state.desc = key === state.sort ? !state.desc : key !== "name"; state.sort = key; draw(); },
        }, t(label))))),
        h("tbody", {}, rows.map((r) => h("tr", { dataset: { id: r.id } }, COLUMNS.map(([key]) => h("td", {}, show(key, r[key]))))))));
  };
  const load = async () => {
    state.rows = (await get(`/api/scorecards?${q()}`)).items;
    csv.href = `/api/scorecards?${q()}&format=csv&headings=names`;
    print.href = `/api/scorecards?${q()}&format=html`;
    draw();
  };
  const csv = h("a.btn", { download: "gridwatch-scorecards.csv" }, "CSV");
  const print = h("a.btn", { target: "_blank" }, t("Printable report"));
  const kind = h("select", { "aria-label": t("Kind"), onchange: (e) => { state.kind = e.target.value; load(); } },
    KINDS.map(([k, label]) => h("option", { value: k }, t(label))));
  load().catch((err) => body.replaceChildren(h("div.empty", {}, err.message)));
  return h("section.panel", { id: "scorecards", style: { marginTop: "16px" } },
    h("header", {}, h("h2", {}, t("Scorecards")), h("div.row", { style: { marginLeft: "auto" } }, kind, csv, print)), body);
}
