// The dashboard: the recent runs of every flow, every flow with its recent runs, the counts of pending
// and active runs, the hosts.

import { api, enc, showError, clearError } from "./api.js";
import { h, put, debounce, ago, when, duration, runTime, pill, flowUrl, runUrl, partialBanner, STATUS_TEXT } from "./dom.js";
import { follow } from "./live.js";

const RECENT = 10;
const ACROSS = 25; // runs in the "Recent runs" table
const state = { flows: [], runs: {}, hosts: [], recent: null };

async function loadRuns(flow) {
  state.runs[flow] = await api(`/flows/${enc(flow)}/runs?limit=${RECENT}`);
}

async function loadRecent() {
  state.recent = await api(`/runs?limit=${ACROSS}`);
}

async function loadAll() {
  const [flows, hosts] = await Promise.all([api("/flows"), api("/hosts"), loadRecent()]);
  state.flows = flows.flows;
  state.hosts = hosts.hosts;
  await Promise.all(state.flows.map((f) => loadRuns(f.id)));
  clearError();
  render();
}

function dots(flow, runs) {
  const recent = runs.archive.slice(0, RECENT).reverse();
  const live = [...runs.pending, ...runs.active].slice(0, 3);
  const items = recent.map((r) => h("a", { class: "dot", href: runUrl(flow, r.run_id), "data-status": r.status,
    "data-run": r.run_id, title: `${r.run_id} · ${STATUS_TEXT[r.status] || r.status} · ${when(r.ended)}` }));
  for (const r of live) {
    items.push(h("a", { class: "dot", href: runUrl(flow, r.run_id), "data-status": r.status === "pending" ? "waiting" : r.status,
      "data-run": r.run_id, title: `${r.run_id} · ${STATUS_TEXT[r.status] || r.status}` }));
  }
  while (items.length < RECENT) items.unshift(h("span", { class: "dot none" }));
  return h("div", { class: "dots", "aria-label": "recent runs" }, items);
}

function flowCard(f) {
  const runs = state.runs[f.id] || { pending: [], active: [], archive: [] };
  const last = runs.archive[0];
  const types = [...new Set(f.triggers.map((t) => t.type))];
  return h("a", { class: "card flow-card", href: flowUrl(f.id), "data-flow": f.id },
    h("div", { class: "title" }, h("span", { class: "name" }, f.name || f.id),
      h("span", { class: "id mono" }, `${f.id} · v${f.ver}`)),
    h("div", { class: "meta" },
      h("span", { class: "badge active", "data-count": "active" }, h("b", {}, String(runs.active.length)), "active"),
      h("span", { class: "badge pending", "data-count": "pending" }, h("b", {}, String(runs.pending.length)), "pending"),
      types.map((t) => h("span", { class: "badge" }, t))),
    dots(f.id, runs),
    h("div", { class: "last" }, last
      ? [`Last: ${last.run_id} `, h("span", { class: `pill plain`, "data-status": last.status }, STATUS_TEXT[last.status]),
        ` ${ago(last.ended)}`]
      : "No finished runs yet"));
}

/** Newest first: what is pending or running, then what ended, across every flow. */
function recentRuns() {
  const r = state.recent;
  const runs = r ? [...r.pending, ...r.active, ...r.archive].slice(0, ACROSS) : [];
  if (!runs.length) return h("div", { class: "empty" }, r ? "No runs yet." : "Loading…");
  const names = Object.fromEntries(state.flows.map((f) => [f.id, f.name || f.id]));
  return h("table", {},
    h("thead", {}, h("tr", {}, ["Run", "Flow", "Status", "Branch", "Commit", "Triggered by", "Duration", "Ended"]
      .map((t) => h("th", t === "Duration" ? { class: "num" } : {}, t)))),
    h("tbody", {}, runs.map((x) => {
      const t = runTime(x);
      return h("tr", { "data-run": x.run_id, "data-flow": x.flow, "data-status": x.status },
        h("td", {}, h("a", { href: runUrl(x.flow, x.run_id), class: "mono" }, x.run_id)),
        h("td", {}, h("a", { href: flowUrl(x.flow) }, names[x.flow] || x.flow)),
        h("td", { "data-col": "status" }, pill(x.status)),
        h("td", { class: "mono", "data-col": "branch" }, x.branch || ""),
        h("td", { class: "mono", "data-col": "commit", title: x.commit || "" }, (x.commit || "").slice(0, 10)),
        h("td", { "data-col": "by" }, x.by || x.trigger),
        h("td", { class: "num", "data-col": "duration" }, t === null ? "" : duration(t)),
        h("td", { "data-col": "ended", title: when(x.ended) }, x.ended ? ago(x.ended) : ""));
    })));
}

function hostsTable() {
  if (!state.hosts.length) return h("div", { class: "empty" }, "No hosts.");
  return h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Host"), h("th", {}, "Address"), h("th", {}, "Tags"), h("th", {}, "Health"),
      h("th", { class: "num" }, "Active runs"))),
    h("tbody", {}, state.hosts.map((x) => h("tr", { "data-host": x.id },
      h("td", {}, h("b", {}, x.id)),
      h("td", { class: "mono" }, x.address),
      h("td", {}, h("div", { class: "chips" }, x.tags.length ? x.tags.map((t) => h("span", { class: "chip" }, t)) : h("span", { class: "muted" }, "none"))),
      h("td", {}, h("span", { class: `health ${x.online ? "ok" : "down"}` }, x.online ? "Online" : "Unreachable")),
      h("td", { class: "num" }, String(x.active_runs))))));
}

function stat(n, label, key) {
  return h("div", { class: "card stat", "data-stat": key }, h("div", { class: "n" }, String(n)), h("div", { class: "l" }, label));
}

function render() {
  const all = Object.values(state.runs);
  partialBanner([...new Set(all.flatMap((r) => r.partial || []))].sort(), (its) => `${its} runs are not shown`);
  const active = all.reduce((n, r) => n + r.active.length, 0);
  const pending = all.reduce((n, r) => n + r.pending.length, 0);
  const online = state.hosts.filter((x) => x.online).length;
  put(document.getElementById("stats"),
    stat(state.flows.length, "Flows", "flows"), stat(active, "Active runs", "active"),
    stat(pending, "Pending runs", "pending"), stat(`${online}/${state.hosts.length}`, "Hosts online", "hosts"));
  put(document.getElementById("flows"),
    state.flows.length ? state.flows.map(flowCard) : h("div", { class: "card empty" }, "No flows are configured."));
  put(document.getElementById("recent"), recentRuns());
  put(document.getElementById("hosts"), hostsTable());
}

export async function start() {
  const dirty = new Set();
  const refresh = debounce(async () => {
    const flows = [...dirty];
    dirty.clear();
    try {
      const [hosts] = await Promise.all([api("/hosts"), loadRecent(), ...flows.map(loadRuns)]);
      state.hosts = hosts.hosts;
      render();
    } catch (err) {
      showError(err);
    }
  }, 150);
  follow({
    query: () => "tags=sys.state,sys.end.all",
    onEvent: (e) => {
      if (state.flows.some((f) => f.id === e.flow)) {
        dirty.add(e.flow);
        refresh();
      }
    },
    onOpen: (again) => { if (again) loadAll().catch(showError); },
  });
  await loadAll();
  setInterval(render, 30000); // keeps "5 min ago" true
  // the stream carries every host's runs; this slower beat catches up what a host that was
  // unreachable for a while did meanwhile
  setInterval(() => { if (state.hosts.length > 1) loadAll().catch(showError); }, 10000);
}
