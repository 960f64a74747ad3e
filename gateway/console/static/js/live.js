// A camera's live view: its newest frame, masked on the edge, fetched every ~1.5 s while the
// element is in the page and the tab is visible. Each fetch is also the gateway's "someone
// watches" to the edge, so a hidden tab or a closed page costs the camera nothing.
import { t } from "./i18n.js";
import { h } from "./ui.js";

const REFRESH_MS = 1500;
// An offline camera (404) is asked again less and less often: a page left open on a dead
// camera must not fill the network log with a 404 every 1.5 s.
const OFFLINE_FIRST_MS = 3000;
const OFFLINE_MAX_MS = 15000;   // a camera that comes back shows within 15 s
const STATES = { live: "live", waiting: "waiting", offline: "offline" };

/**
 * liveImage(cameraId, fallback) -> <gw-live data-camera data-state> holding an <img.thumb> and
 * a state label (.live-state: "live", "waiting", "offline"); `fallback` (a URL, e.g. the last
 * snapshot) shows until a live frame arrives. It stops by itself once removed from the
 * document (`el.stopped`).
 */
export function liveImage(cameraId, fallback = null) {
  const img = h("img.thumb", { alt: t("Live view of {camera}", { camera: cameraId }) });
  if (fallback) img.src = fallback;
  const badge = h("span.live-state");
  const el = h("gw-live", { dataset: { camera: cameraId, state: "waiting" } }, img, badge);
  let url = null;      // the object URL shown now, revoked when replaced
  let busy = false;
  let seen = false;    // been in the document once: leaving it afterwards means "removed"
  let offlineDelay = 0, retryAt = 0;

  const setState = (state) => {
    el.dataset.state = state;
    badge.textContent = state === STATES.live ? t("live") : state === STATES.offline ? t("offline") : t("waiting");
    badge.title = state === STATES.offline ? t("camera offline") : state === STATES.waiting ? t("waiting for the camera") : "";
  };
  setState(STATES.waiting);

  async function tick() {
    if (!el.isConnected) {
      if (seen) stop();
      return;
    }
    seen = true;
    if (busy || document.visibilityState !== "visible" || Date.now() < retryAt) return;
    busy = true;
    try {
      const resp = await fetch(`/api/cameras/${encodeURIComponent(cameraId)}/live.jpg`,
        { credentials: "same-origin", cache: "no-store" });
      if (resp.status === 200) {
        const next = URL.createObjectURL(await resp.blob());
        img.src = next;
        if (url) URL.revokeObjectURL(url);
        url = next;
        offlineDelay = retryAt = 0;
        setState(STATES.live);
      } else if (resp.status === 404) {
        offlineDelay = Math.min(offlineDelay ? offlineDelay * 2 : OFFLINE_FIRST_MS, OFFLINE_MAX_MS);
        retryAt = Date.now() + offlineDelay;
        setState(STATES.offline);
      } else {
        setState(STATES.waiting);
      }
    } catch {
      setState(STATES.waiting);   // the gateway is away for a moment: try again next tick
    } finally {
      busy = false;
    }
  }

  const timer = setInterval(tick, REFRESH_MS);
  const onVisible = () => { if (document.visibilityState === "visible") tick(); };
  document.addEventListener("visibilitychange", onVisible);
  function stop() {
    clearInterval(timer);
    document.removeEventListener("visibilitychange", onVisible);
    if (url) URL.revokeObjectURL(url);
    el.stopped = true;
  }
  el.stopped = false;
  el.stop = stop;
  queueMicrotask(tick);   // the first frame as soon as it is placed in the page
  return el;
}

// The incident page's panel: the camera's live frame at the panel's width (.live-panel in console.css).
export function livePanel(cameraId, fallbackUrl) {
  return h("section.panel.live-panel", {}, h("header", {}, h("h2", {}, t("Live view")), h("span.muted.mono", {}, cameraId)),
    h("div.body", {}, liveImage(cameraId, fallbackUrl)));
}
