// Event clips and the evidence package of one incident, for the incident page and the phone
// view. Clips play straight from GET /api/media/{id} (the login cookie and Range requests do
// the rest); a clip still recording on the edge or uploading shows as such, and the panel
// looks again, less and less often, until it is there.
import { get } from "./api.js";
import { t } from "./i18n.js";
import { cameraName, fmtTime, h } from "./ui.js";

const FIRST_RECHECK_MS = 3000;
const SHOWN_FIRST = 3;          // the newest few; the rest behind "show N more", or 20 clips bury the page
const MAX_RECHECK_MS = 30000;   // an edge offline for hours must not make every open page poll fast

const mb = (n) => (n == null ? "" : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} kB`);
const secs = (s) => (Number.isFinite(s) ? `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, "0")}` : "");

/**
 * clipsPanel(incidentId, {compact, onReady}) -> {el, refresh()}.
 * Keep the same panel across re-renders of the page (re-append `el`), so a playing clip goes
 * on playing. `onReady()` is called when media that was pending arrives (e.g. to reload the
 * snapshots, which come with the clip).
 */
export function clipsPanel(incidentId, { compact = false, onReady = () => {} } = {}) {
  const id = encodeURIComponent(incidentId);
  const count = h("span.muted", {}, "");
  const list = h("div.clips", { class: compact ? "compact" : "" }, h("div.muted", {}, t("Loading clips…")));
  const evidence = h("a.btn", { href: `/api/incidents/${id}/evidence`, download: `incident-${incidentId}-evidence.zip`,
    id: "evidence-link", title: t("ZIP with the incident, its timeline, alerts, audit trail and media, each with its SHA-256") },
    t("Evidence package"));
  const el = compact
    ? h("div.card.clips-card", { id: "clips" }, h("div.row", {}, h("h2", {}, t("Event clips")), count, h("span.grow"), evidence), list)
    : h("section.panel", { id: "clips" }, h("header", {}, h("h2", {}, t("Event clips")), count, h("span.grow"), evidence),
      h("div.body", {}, list));
  const shown = new Map();   // media id -> {status, node}: ready clips keep their <video>
  const waiting = new Set(); // media ids pending at the last look
  let timer = null;
  let delay = FIRST_RECHECK_MS;
  let running = null;
  let showAll = false;
  const more = h("button.ghost.show-more", { onclick: () => { showAll = !showAll; fold(); } });
  function fold() {
    const nodes = [...list.querySelectorAll(":scope > figure.clip")];
    nodes.forEach((n, i) => n.classList.toggle("hidden", !showAll && i >= SHOWN_FIRST));
    more.classList.toggle("hidden", nodes.length <= SHOWN_FIRST);
    more.textContent = showAll ? t("Show fewer clips") : t("Show {n} more clips", { n: nodes.length - SHOWN_FIRST });
  }

  async function load() {
    let items;
    try {
      items = (await get(`/api/incidents/${id}/media`)).items || [];
    } catch (err) {
      list.replaceChildren(h("div.muted", {}, t("Clips unavailable: {reason}", { reason: err.message })));
      return;
    }
    const clips = items.filter((m) => m.kind === "clip")
      .sort((a, b) => String(b.created_at || "").localeCompare(String(a.created_at || "")) || (Number(b.id) - Number(a.id)) || 0);
    const posterOf = posters(items);
    // something that was on its way has arrived: a clip, or the snapshot the page shows above
    const arrived = items.some((m) => m.status === "ready" && waiting.has(m.id));
    waiting.clear();
    for (const m of items) if (m.status === "pending") waiting.add(m.id);
    const nodes = clips.map((m) => {
      const old = shown.get(m.id);
      if (old && old.status === m.status) return old.node;
      const node = clipItem(m, posterOf(m));
      shown.set(m.id, { status: m.status, node });
      return node;
    });
    count.textContent = clips.length ? t("{n} clips", { n: clips.length }) : "";
    list.replaceChildren(...(nodes.length ? nodes : [h("div.muted", {}, t("No clips for this incident."))]), more);
    fold();
    // rechecked while something is on its way, and only while the panel is on screen
    clearTimeout(timer);
    if (waiting.size) {
      timer = setTimeout(() => { if (el.isConnected) refresh(); }, delay);
      delay = Math.min(delay * 1.5, MAX_RECHECK_MS);
    } else delay = FIRST_RECHECK_MS;
    if (arrived) onReady();
  }

  function refresh() {
    running = running || load().finally(() => { running = null; });
    return running;
  }

  refresh();
  return { el, refresh };
}

/** A ready snapshot of the same alert makes the clip's poster. */
function posters(items) {
  const byAlert = new Map();
  for (const m of items) {
    if (m.kind === "snapshot" && m.status === "ready") for (const a of m.alert_ids || [m.alert_id]) byAlert.set(a, m.url);
  }
  return (clip) => (clip.alert_ids || [clip.alert_id]).map((a) => byAlert.get(a)).find(Boolean) || null;
}

function clipItem(m, poster) {
  const url = m.url || `/api/media/${encodeURIComponent(m.id)}`;
  const meta = h("span.mono.clip-duration", {});
  const where = [cameraName(m.camera_id), m.created_at ? fmtTime(m.created_at, { seconds: true }) : null].filter(Boolean).join(" · ");
  if (m.status === "ready") {
    const video = h("video", { controls: true, preload: "metadata", playsinline: true, src: url, poster,
      dataset: { media: m.id },
      onloadedmetadata: (e) => { meta.textContent = secs(e.target.duration); },
      onerror: () => { meta.textContent = t("cannot play here"); } });
    return h("figure.clip", { dataset: { media: m.id, status: "ready" } }, video,
      h("figcaption", {}, h("span.grow", {}, where), meta, h("span.faint", {}, mb(m.size)),
        h("a", { href: `${url}?download=1`, download: "", title: t("Download the clip (MP4)") }, t("Download"))));
  }
  const pending = m.status === "pending";
  return h("figure.clip", { dataset: { media: m.id, status: m.status } },
    h("div.clip-wait", { class: pending ? "pending" : "gone" },
      pending ? h("span.spinner", { "aria-hidden": "true" }) : null,
      h("b", {}, pending ? t("Recording / uploading…") : t("Removed")),
      h("span", {}, pending ? t("The edge is still recording this clip or sending it. It appears here by itself.")
        : t("This clip was removed by the retention policy."))),
    h("figcaption", {}, h("span.grow", {}, where || m.id)));
}
