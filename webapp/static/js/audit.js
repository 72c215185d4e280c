// The audit page: the cluster's audit trail (who did what, when), filtered by flow and user.

import { api, enc, showError, clearError } from "./api.js";
import { h, put, ago, when, runUrl, flowUrl, partialBanner } from "./dom.js";

const LIMIT = 500;
const form = document.getElementById("audit-filter");
const flowBox = document.getElementById("audit-flow");
const userBox = document.getElementById("audit-user");

/** A run id, linked to its page when the entry names its flow. */
function runCell(e) {
  return e.flow ? h("a", { href: runUrl(e.flow, e.run_id), class: "mono" }, e.run_id) : h("span", { class: "mono" }, e.run_id);
}

function table(entries) {
  if (!entries.length) return h("div", { class: "empty" }, "No entries.");
  return h("table", {},
    h("thead", {}, h("tr", {}, ["When", "Who", "Action", "Flow", "Run", "Detail", "Host"].map((t) => h("th", {}, t)))),
    h("tbody", {}, entries.map((e) => h("tr", { "data-action": e.action, "data-by": e.by },
      h("td", { title: when(e.at) }, ago(e.at) || when(e.at)),
      h("td", { "data-col": "by" }, e.by),
      h("td", { "data-col": "action" }, h("span", { class: "chip" }, e.action)),
      h("td", { "data-col": "flow" }, e.flow ? h("a", { href: flowUrl(e.flow) }, e.flow) : ""),
      h("td", { "data-col": "run" }, e.run_id ? runCell(e) : ""),
      h("td", { "data-col": "detail" }, e.detail),
      h("td", { class: "muted" }, e.host)))));
}

async function load() {
  const q = new URLSearchParams(location.search);
  flowBox.value = q.get("flow") || "";
  userBox.value = q.get("user") || "";
  const filter = (q.get("flow") ? `&flow=${enc(q.get("flow"))}` : "") + (q.get("user") ? `&user=${enc(q.get("user"))}` : "");
  const got = await api(`/audit?limit=${LIMIT}${filter}`);
  partialBanner(got.partial || [], (its) => `${its} entries are not shown`);
  clearError();
  put(document.getElementById("audit"), table(got.entries));
}

export async function start() {
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (flowBox.value.trim()) q.set("flow", flowBox.value.trim());
    if (userBox.value.trim()) q.set("user", userBox.value.trim());
    history.pushState(null, "", `/app/audit${q.size ? `?${q}` : ""}`);
    load().catch(showError);
  });
  window.addEventListener("popstate", () => load().catch(showError));
  await load();
}
