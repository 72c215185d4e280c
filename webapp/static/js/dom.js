// Small DOM helpers: element builders that never parse HTML, and time formatting.

const SVG = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.setAttribute("class", v);
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k in el && !(el instanceof SVGElement) && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** h("a", {href: "/x", class: "y"}, "text", child) */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG, tag), attrs, children);
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** Replace the children of `el`. */
export function put(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** Run `fn` once, `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export const now = () => Date.now() / 1000;

/** 0.4s, 12s, 3m 05s, 2h 01m */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "";
  const t = Math.max(0, seconds);
  if (t < 10) return `${t.toFixed(1)}s`;
  if (t < 60) return `${Math.round(t)}s`;
  const m = Math.floor(t / 60);
  if (m < 60) return `${m}m ${String(Math.floor(t % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** "just now", "5 min ago", "3 h ago", "2 days ago" */
export function ago(ts) {
  if (!ts) return "";
  const d = Math.max(0, now() - ts);
  if (d < 10) return "just now";
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86400)} days ago`;
}

/** Local date and time, for a title attribute. */
export function when(ts) {
  return ts ? new Date(ts * 1000).toLocaleString() : "";
}

/** "12:03": the local time of day, for "answered at". */
export function clock(ts) {
  if (!ts) return "";
  const d = new Date(ts * 1000);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** Show which hosts could not be asked (an answer's `partial`) in the page's banner, or hide it. */
export function partialBanner(hosts, what) {
  const box = document.getElementById("partial");
  if (!box) return;
  box.hidden = !hosts.length;
  const names = hosts.join(", ");
  box.textContent = hosts.length === 1 ? `Host ${names} is unreachable: ${what("its")}`
    : hosts.length ? `Hosts ${names} are unreachable: ${what("their")}` : "";
}

export const STATUS_TEXT = {
  pending: "Pending", running: "Running", waiting: "Waiting", good: "Succeeded", bad: "Failed",
  cancelled: "Cancelled", error: "Error", idle: "Not run",
};

export function pill(status) {
  return h("span", { class: "pill", "data-status": status }, STATUS_TEXT[status] || status);
}

export const runUrl = (flow, run) => `/app/flows/${encodeURIComponent(flow)}/runs/${encodeURIComponent(run)}`;
export const flowUrl = (flow) => `/app/flows/${encodeURIComponent(flow)}`;

/** A run's duration so far. */
export function runTime(r) {
  if (!r.started) return null;
  return (r.ended || now()) - r.started;
}
