// Lifecycle actions: which need a note, a reason or more, and how they are sent.
import { api, get, post } from "./api.js";
import { N_, t } from "./i18n.js";
import { ask, h, nameCameras } from "./ui.js";

export const ACTION_ORDER = ["dispatch", "acknowledge", "resolve", "verify", "close", "reopen", "escalate",
  "extend", "reassign", "dismiss", "merge", "rate"];
// The actions each role is there for, highlighted: the worker's on the ground, the operator's at the desk.
const PRIMARY_FOR_WORKER = new Set(["acknowledge", "resolve"]);
const PRIMARY_FOR_OPERATOR = new Set(["dispatch", "verify", "close"]);
export const primaryFor = (role) => (role === "grid_worker" ? PRIMARY_FOR_WORKER : PRIMARY_FOR_OPERATOR);
// Why an incident is dismissed (the API's `kind`); only a false alarm counts in the false-alarm rate.
export const DISMISS_KINDS = [["false_alarm", N_("False alarm")], ["duplicate", N_("Duplicate")], ["test", N_("Test")], ["other", N_("Other")]];
// The reporter's satisfaction with a closed case they reported (the follow-up)
export const RATINGS = [["satisfied", N_("Satisfied")], ["basically_satisfied", N_("Basically satisfied")], ["not_satisfied", N_("Not satisfied")]];
export const SHORTCUT = { dispatch: "d", acknowledge: "a", resolve: "r", verify: "v", close: "c", dismiss: "x", escalate: "e" };

const PROMPTS = {
  dispatch: { label: N_("Note for the grid worker"), extra: ["assignee", N_("Assignee (empty: the grid's worker)")] },
  acknowledge: { label: N_("Note") },
  resolve: { label: N_("What was done"), required: true },
  verify: { label: N_("Verification note") },
  close: { label: N_("Closing note") },
  reopen: { label: N_("Why verification failed"), required: true, field: "reason" },
  dismiss: { label: N_("Note (optional)"), field: "reason", choice: ["kind", N_("Why is it dismissed?"), DISMISS_KINDS] },
  escalate: { label: N_("Reason for escalation"), required: true, field: "reason" },
  extend: { label: N_("Reason for the extension"), required: true, field: "reason", extra: ["extend_minutes", N_("Extend by (minutes)"), "60"] },
  reassign: { label: N_("Note"), extra: ["assignee", N_("New assignee (username)")] },
  merge: { label: N_("Note"), extra: ["into", N_("Merge into incident id")] },
  rate: { label: N_("The reporter's words"), choice: ["rating", N_("Is the reporter satisfied?"), RATINGS] },
};

const TITLES = { dispatch: N_("Dispatch"), acknowledge: N_("Acknowledge"), resolve: N_("Resolve"), verify: N_("Verify"),
  close: N_("Close"), reopen: N_("Reopen"), escalate: N_("Escalate"), extend: N_("Extend"), reassign: N_("Reassign"),
  dismiss: N_("Dismiss"), merge: N_("Merge"), rate: N_("Rate") };
export const actionTitle = (a) => (TITLES[a] ? t(TITLES[a]) : a[0].toUpperCase() + a.slice(1));

/**
 * Asks what the action needs, sends it, and resolves to the updated incident (or null if
 * cancelled). `people` ([{user, name}]) turns an assignee field into a choice among them.
 */
export async function runAction(incidentId, action, { people = [] } = {}) {
  const p = PROMPTS[action] || { label: N_("Note") };
  let extra = null;
  if (p.choice) {
    const [name, label, options] = p.choice;
    extra = { name, label: t(label), required: true,
      el: h("select", { name }, h("option", { value: "" }, t("Choose…")), options.map(([v, text]) => h("option", { value: v }, t(text)))) };
  } else if (p.extra) {
    const [name, label, value] = p.extra;
    const el = name === "assignee" && people.length
      ? h("select", { name }, h("option", { value: "" }, action === "dispatch" ? t("The responsible person") : t("Choose…")),
        people.map((x) => h("option", { value: x.user }, `${x.name || x.user} (${x.user})`)))
      : h("input", { name, value: value || "" });
    extra = { name, label: name === "assignee" && people.length ? t("Assignee") : t(label), el };
  }
  const answer = await ask({ title: t("{action} incident #{id}", { action: actionTitle(action), id: incidentId }), label: t(p.label),
    required: !!p.required, confirm: actionTitle(action), extra });
  if (!answer) return null;
  const body = {};
  if (answer.note) body[p.field || "note"] = answer.note;
  if (extra && answer.extra) body[extra.name] = ["extend_minutes", "into"].includes(extra.name) ? Number(answer.extra) : answer.extra;
  return post(`/api/incidents/${encodeURIComponent(incidentId)}/${action}`, body);
}

/** Resolve with a note and an optional photo, as multipart/form-data. */
export function resolveWithPhoto(incidentId, note, file) {
  const form = new FormData();
  form.set("note", note);
  if (file) form.set("photo", file, file.name || "photo.jpg");
  return api(`/api/incidents/${encodeURIComponent(incidentId)}/resolve`, { method: "POST", form });
}

// People who can take an incident in its grid: that grid's and those above it.
let gridsCache = null;
/** The visible grids by id ({id, name, parent, people: [{user, name, role, phone}]}), fetched once a page. */
export async function gridsById() {
  gridsCache = gridsCache || (await get("/api/grids", { limit: 500 }).then((d) => d.items).catch(() => []));
  return new Map(gridsCache.map((g) => [g.id, g]));
}

let camerasLoaded = null;
/** The visible cameras' names into ui.js's CAMERA_NAMES, fetched once a page (unnamed ones keep their id). */
export function loadCameraNames() {
  camerasLoaded = camerasLoaded || get("/api/cameras", { limit: 500 })
    .then((d) => nameCameras(d.items)).catch(() => {});
  return camerasLoaded;
}

export async function peopleFor(gridId) {
  const byId = await gridsById();
  const out = [];
  for (let g = byId.get(gridId), hops = 0; g && hops < 20; g = byId.get(g.parent), hops++) out.push(...(g.people || []));
  return out.filter((x, i) => x.user && out.findIndex((y) => y.user === x.user) === i);
}

/** A person by name (their user id as the title) with their phone as a tel: link; the id alone if unknown. */
export function personLink(people, user) {
  const found = people.find((x) => x.user === user);
  if (!found) return h("span", {}, user);
  return h("span.person", { title: user }, found.name || user,
    found.phone ? h("a.tel", { href: `tel:${found.phone.replace(/[^+\d]/g, "")}`, onclick: (e) => e.stopPropagation() }, ` ☎ ${found.phone}`) : null);
}

/** Everyone visible by user id, from all the visible grids (the board and the phone's list). */
export async function everyone() {
  const out = new Map();
  for (const g of (await gridsById()).values()) for (const p of g.people || []) if (p.user && !out.has(p.user)) out.set(p.user, p);
  return [...out.values()];
}
