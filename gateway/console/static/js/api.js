// The gateway REST API as seen from the browser. Credentials travel in the `gw_token`
// cookie that login sets, so <img src> and EventSource work without extra headers.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(path, { method = "GET", body, form } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (form) init.body = form;                       // multipart: the browser sets the boundary
  else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    const message = err.message || (data && data.detail && JSON.stringify(data.detail)) || `${resp.status} ${resp.statusText}`;
    if (resp.status === 401 && !path.startsWith("/api/auth/")) toLogin();
    throw new ApiError(resp.status, err.code || String(resp.status), message);
  }
  return data;
}

export function toLogin() {
  const next = location.pathname + location.search + location.hash;
  location.href = `/login?next=${encodeURIComponent(next)}`;
}

export const get = (path, params) => api(params ? `${path}?${query(params)}` : path);
export const post = (path, body) => api(path, { method: "POST", body: body || {} });

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "" && v !== false) q.set(k, v);
  }
  return q.toString();
}

let mePromise = null;
/** The signed-in user ({username, display_name, role, grid_id}); sends to login if none. */
export function me() {
  if (!mePromise) mePromise = api("/api/me").then((d) => (d && d.user) || d);
  return mePromise;
}

export async function logout() {
  try { await api("/api/auth/logout", { method: "POST", body: {} }); } catch { /* already out */ }
  location.href = "/login";
}

/**
 * Server-sent incident events; calls onEvent(item) and onState("live"|"down", fresh).
 * The browser reconnects by itself with Last-Event-ID, missing nothing; `fresh` is true
 * when the stream had to start over from "now", so the page should reload its list.
 */
export function liveEvents(onEvent, onState = () => {}) {
  let source = null;
  let lastId = null;
  let retry = null;
  const open = () => {
    const url = lastId ? `/api/stream?after=${encodeURIComponent(lastId)}` : "/api/stream";
    let fresh = !lastId;
    source = new EventSource(url, { withCredentials: true });
    source.onopen = () => { onState("live", fresh); fresh = false; };
    source.addEventListener("incident", (e) => {
      lastId = e.lastEventId || lastId;
      try { onEvent(JSON.parse(e.data)); } catch (err) { console.error("bad event", err); }
    });
    source.addEventListener("error", (e) => {
      if (e.data) { source.close(); toLogin(); return; }   // the stream said: not signed in
      onState("down");
      if (source.readyState === EventSource.CLOSED) {
        clearTimeout(retry);
        retry = setTimeout(open, 3000);
      }
    });
  };
  open();
  return () => { clearTimeout(retry); source && source.close(); };
}
