// A flow: its data triggers' forms, its webhook URLs, its graph, and its pending, active and archived
// runs (paged, with a chart of their durations and results).

import { api, enc, showError, clearError } from "./api.js";
import { h, s, put, debounce, ago, when, duration, runTime, pill, runUrl, partialBanner, STATUS_TEXT } from "./dom.js";
import { dataForm } from "./forms.js";
import { drawGraph } from "./graph.js";
import { follow } from "./live.js";
import { ROLE, may } from "./roles.js";

const PAGE = 20;
const FLOW = document.body.dataset.flow;
const state = { flow: null, runs: null, pages: [null], page: 0 };
const RUN_NOW = new Set(["timer", "poll-git"]);

/** The "Run now" button of a timer or poll-git trigger: a run at once, beside the schedule. */
function runNow(flow, t) {
  const error = h("div", { class: "form-error", role: "alert", hidden: true });
  const button = h("button", { class: "btn primary", type: "button", "data-run-now": t.id }, "Run now");
  button.addEventListener("click", async () => {
    button.disabled = true;
    error.hidden = true;
    try {
      const res = await api(`/flows/${enc(flow.id)}/triggers/${enc(t.id)}/run`, { method: "POST", body: {} });
      location.assign(runUrl(flow.id, res.run_id));
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      button.disabled = false;
    }
  });
  return h("div", { class: "row" }, button, error);
}

/** Where a git host must send a webhook trigger's pushes, with a copy button and whether it is signed. */
function webhookUrl(t) {
  const url = `${location.origin}${document.body.dataset.base}${t.webhook.path}`;
  const field = h("input", { class: "mono", type: "text", readonly: true, value: url, "data-webhook-url": t.id,
    "aria-label": "webhook URL" });
  const copy = h("button", { class: "btn small", type: "button", "data-copy": t.id }, "Copy");
  copy.addEventListener("click", async () => {
    field.select();
    try {
      await navigator.clipboard.writeText(url);
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Press Ctrl+C"; // no clipboard access: the URL is selected
    }
  });
  const secret = t.webhook.secret
    ? h("p", { class: "muted", "data-secret": "yes" }, "A secret is configured: give the git host the same secret.")
    : h("p", { class: "muted", "data-secret": "no" }, "No secret is configured: pushes must carry the API's credentials.");
  return h("div", { class: "webhook-url" }, h("div", { class: "k" }, "Payload URL (GitHub, Gitea, GitLab)"),
    h("div", { class: "row" }, field, copy), secret);
}

function notAllowed() {
  return h("p", { class: "muted", "data-needs": "operator" }, `Starting a run needs the operator role (you are ${ROLE}).`);
}

function triggerForms(flow) {
  const box = document.getElementById("triggers");
  if (!flow.triggers.length) return put(box, h("div", { class: "empty" }, "This flow has no triggers."));
  put(box, flow.triggers.map((t) => {
    const head = h("div", { class: "head" }, h("h3", {}, t.type === "data" ? (t.form.title || t.name) : t.name),
      h("span", { class: "chip" }, `${t.type} · ${t.id}`));
    if (t.type !== "data") {
      return h("div", { class: "trigger", "data-trigger": t.id }, head,
        h("p", { class: "muted" }, `Started by its ${t.type} trigger; no form.`),
        t.webhook ? webhookUrl(t) : null, triggerStatus(t.status),
        RUN_NOW.has(t.type) && may("operator") ? runNow(flow, t) : null);
    }
    if (!may("operator")) return h("div", { class: "trigger", "data-trigger": t.id }, head, notAllowed());
    const form = dataForm(t.form.fields, {
      id: t.id,
      label: "Run",
      submit: async (values) => {
        const res = await api("/push/data", { method: "POST",
          body: { Ref: { ID: flow.id, Ver: flow.ver }, Form: { ID: t.id, Values: values } } });
        location.assign(runUrl(flow.id, res.run_id));
      },
    });
    return h("div", { class: "trigger", "data-trigger": t.id }, head, form);
  }));
}

/** What a timer, poller or webhook did: next and last fire, last error. */
function triggerStatus(st) {
  if (!st) return null;
  const item = (k, v, title) => h("div", {}, h("div", { class: "k" }, k), h("div", { class: "v", title: title || "" }, v));
  const next = st.next_fire ? (st.next_fire > Date.now() / 1000
    ? `in ${duration(st.next_fire - Date.now() / 1000)}` : "due") : "—";
  return h("div", { class: "summary trigger-status" },
    item("Next", next, when(st.next_fire)),
    item("Last", st.last_fire ? ago(st.last_fire) : "never", when(st.last_fire)),
    item("Last run", st.last_run ? h("a", { href: runUrl(FLOW, st.last_run), class: "mono" }, st.last_run) : "—"),
    item("Fired", String(st.fires || 0)),
    st.last_error ? h("div", { class: "reason", "data-status": "bad", title: when(st.last_error_at) }, st.last_error) : null);
}

function graph(flow) {
  const info = {};
  for (const t of flow.triggers) info[t.id] = { name: t.name || t.id, kind: `trigger · ${t.type}` };
  for (const n of flow.tasks) info[n.id] = { name: n.name || n.id, kind: n.class === "merge" ? `merge · ${n.type}` : n.type };
  const g = drawGraph({ levels: flow.levels, edges: flow.edges, info });
  g.update({});
  put(document.getElementById("graph"), g.svg);
}

function row(r, { reason = false } = {}) {
  const t = runTime(r);
  return h("tr", { "data-run": r.run_id, "data-status": r.status },
    h("td", {}, h("a", { href: runUrl(FLOW, r.run_id), class: "mono" }, r.run_id)),
    h("td", {}, pill(r.status)),
    h("td", { class: "mono" }, r.trigger),
    reason ? h("td", { class: "reason-cell" }, r.pending_reason || "waiting to be placed")
      : h("td", { title: when(r.started || r.created) }, ago(r.started || r.created)),
    h("td", { class: "num" }, t === null ? "" : duration(t)),
    reason ? null : h("td", { class: "muted" }, r.exec_host || ""));
}

function table(runs, { reason = false, empty }) {
  if (!runs.length) return h("div", { class: "empty" }, empty);
  return h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Run"), h("th", {}, "Status"), h("th", {}, "Trigger"),
      h("th", {}, reason ? "Why it waits" : "Started"), h("th", { class: "num" }, "Duration"), reason ? null : h("th", {}, "Host"))),
    h("tbody", {}, runs.map((r) => row(r, { reason }))));
}

const CHART = { w: 600, h: 120, gap: 2 };

/** The runs of the shown archive page as bars, oldest left: height is the duration, colour the result. */
function historyChart(runs) {
  const box = document.getElementById("history-chart");
  const ended = runs.filter((r) => r.started && r.ended).reverse();
  if (!ended.length) return put(box);
  const longest = Math.max(...ended.map(runTime), 0.001);
  const width = Math.min(40, (CHART.w - CHART.gap * ended.length) / ended.length);
  const bars = ended.map((r, i) => {
    const t = runTime(r);
    const height = Math.max(2, (t / longest) * (CHART.h - 4));
    const bar = s("rect", { class: "bar", "data-run": r.run_id, "data-status": r.status,
      x: i * (width + CHART.gap), y: CHART.h - height, width, height });
    bar.append(s("title", {}, `${r.run_id} · ${STATUS_TEXT[r.status] || r.status} · ${duration(t)}`));
    return s("a", { href: runUrl(FLOW, r.run_id) }, bar);
  });
  put(box, s("svg", { class: "history-chart", viewBox: `0 0 ${CHART.w} ${CHART.h}`, role: "img",
    "aria-label": `durations of ${ended.length} runs, longest ${duration(longest)}` }, bars));
}

function renderRuns() {
  const runs = state.runs;
  put(document.getElementById("active"), table(runs.active, { empty: "Nothing running." }));
  put(document.getElementById("pending"), table(runs.pending, { reason: true, empty: "Nothing pending." }));
  document.getElementById("active-count").textContent = String(runs.active.length);
  document.getElementById("pending-count").textContent = String(runs.pending.length);
  const newer = h("button", { class: "btn small", id: "newer", disabled: state.page === 0,
    onclick: () => page(state.page - 1) }, "← Newer");
  const older = h("button", { class: "btn small", id: "older", disabled: runs.next_before === null,
    onclick: () => page(state.page + 1) }, "Older →");
  historyChart(runs.archive);
  put(document.getElementById("archive"), table(runs.archive, { empty: state.page ? "No older runs." : "No finished runs yet." }),
    h("div", { class: "pager" }, h("span", { class: "muted" }, `Page ${state.page + 1}`), newer, older));
}

async function loadRuns() {
  const before = state.pages[state.page];
  const q = `limit=${PAGE}` + (before === null ? "" : `&before=${before}`);
  state.runs = await api(`/flows/${enc(FLOW)}/runs?${q}`);
  state.pages[state.page + 1] = state.runs.next_before;
  partialBanner(state.runs.partial || [], (its) => `${its} runs are not shown`);
  clearError();
  renderRuns();
}

async function page(n) {
  state.page = Math.max(0, n);
  try {
    await loadRuns();
  } catch (err) {
    showError(err);
  }
}

export async function start() {
  const refresh = debounce(() => loadRuns().catch(showError), 120);
  follow({
    query: () => `flow=${enc(FLOW)}&tags=sys.state,sys.end.all`,
    onEvent: refresh,
    onOpen: (again) => { if (again) refresh(); },
  });
  state.flow = await api(`/flows/${enc(FLOW)}`);
  triggerForms(state.flow);
  graph(state.flow);
  await loadRuns();
  setInterval(() => { if (state.runs && state.runs.active.length) renderRuns(); }, 1000);
  // the stream carries every host's runs; this slower beat catches up what a host that was
  // unreachable for a while did meanwhile
  const hosts = await api("/hosts");
  if (hosts.hosts.length > 1) setInterval(refresh, 10000);
}
