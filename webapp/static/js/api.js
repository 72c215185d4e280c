// JSON calls to the host's API; a 401 sends the browser to the login page.

const BASE = document.body.dataset.base || "/build/api";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.field = this.body.field || "";
  }
}

let leaving = false; // set on logout: a poll answered 401 meanwhile must not redirect elsewhere

/** From now on, a 401 (of a call in flight while the session ends) sends nobody to the login page. */
export function quiet() {
  leaving = true;
}

/** Leave the page for `url`, ignoring the 401s of calls still in flight. */
export function leave(url) {
  quiet();
  location.assign(url);
}

export function toLogin() {
  if (leaving) return;
  const here = location.pathname + location.search;
  location.assign(`/app/login?next=${encodeURIComponent(here)}`);
}

/** fetch `BASE + path`; JSON in and out (text when `text` is set). */
export async function api(path, { method = "GET", body, text = false, login = true } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: text ? "text/plain" : "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(BASE + path, init);
  if (res.status === 401 && login) {
    toLogin();
    throw new ApiError(401, { error: "not logged in" });
  }
  const data = text ? await res.text() : await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, text ? { error: data } : data);
  return data;
}

export const enc = encodeURIComponent;

/** Show a failure at the top of the page, once per message. */
export function showError(err) {
  const box = document.getElementById("error");
  if (!box) return;
  box.textContent = err instanceof Error ? err.message : String(err);
  box.hidden = false;
}

export function clearError() {
  const box = document.getElementById("error");
  if (box) box.hidden = true;
}
