// Lifecycle actions: which need a note, a reason or more, and how they are sent.
import { api, post } from "./api.js";
import { ask, h } from "./ui.js";

export const ACTION_ORDER = ["dispatch", "acknowledge", "resolve", "verify", "close", "reopen", "escalate",
  "extend", "reassign", "dismiss", "merge"];
export const PRIMARY = new Set(["dispatch", "acknowledge", "resolve", "verify", "close"]);
export const SHORTCUT = { dispatch: "d", acknowledge: "a", resolve: "r", verify: "v", close: "c", dismiss: "x", escalate: "e" };

const PROMPTS = {
  dispatch: { label: "Note for the grid worker", extra: ["assignee", "Assignee (empty: the grid's worker)"] },
  acknowledge: { label: "Note" },
  resolve: { label: "What was done", required: true },
  verify: { label: "Verification note" },
  close: { label: "Closing note" },
  reopen: { label: "Why verification failed", required: true, field: "reason" },
  dismiss: { label: "Reason (false alarm, duplicate, …)", required: true, field: "reason" },
  escalate: { label: "Reason for escalation", required: true, field: "reason" },
  extend: { label: "Reason for the extension", required: true, field: "reason", extra: ["extend_minutes", "Extend by (minutes)", "60"] },
  reassign: { label: "Note", extra: ["assignee", "New assignee (username)"] },
  merge: { label: "Note", extra: ["into", "Merge into incident id"] },
};

export const actionTitle = (a) => a[0].toUpperCase() + a.slice(1);

/**
 * Asks what the action needs, sends it, and resolves to the updated incident (or null if
 * cancelled). `people` ([{user, name}]) turns an assignee field into a choice among them.
 */
export async function runAction(incidentId, action, { people = [] } = {}) {
  const p = PROMPTS[action] || { label: "Note" };
  let extra = null;
  if (p.extra) {
    const [name, label, value] = p.extra;
    const el = name === "assignee" && people.length
      ? h("select", { name }, h("option", { value: "" }, action === "dispatch" ? "The responsible person" : "Choose…"),
        people.map((x) => h("option", { value: x.user }, `${x.name || x.user} (${x.user})`)))
      : h("input", { name, value: value || "" });
    extra = { name, label: name === "assignee" && people.length ? "Assignee" : label, el };
  }
  const answer = await ask({ title: `${actionTitle(action)} incident #${incidentId}`, label: p.label,
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
