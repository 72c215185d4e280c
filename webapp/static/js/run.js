// A run: its graph (live), the selected node's log (streaming), data gates, cancel, a timeline.

import { api, enc, showError, clearError } from "./api.js";
import { h, put, debounce, ago, when, clock, duration, now, pill, flowUrl, runUrl, partialBanner, STATUS_TEXT } from "./dom.js";
import { dataForm } from "./forms.js";
import { drawGraph } from "./graph.js";
import { follow } from "./live.js";
import { LogPanel } from "./logpanel.js";
import { ROLE, may } from "./roles.js";

const FLOW = document.body.dataset.flow;
const RUN = document.body.dataset.run;
const LIVE = new Set(["pending", "running", "waiting"]);
const REMOTE_POLL = 2000; // ms

const state = { run: null, triggers: {}, graph: null, selected: "", picked: false, lastSeq: 0, gates: new Map() };
const $ = (id) => document.getElementById(id);
let logs = null;

export function nodeState(n) {
  if (n.status === "running" || n.status === "waiting" || n.status === "cancelled") return n.status;
  if (n.status === "finished") return n.result || "good";
  return "idle";
}

function elapsed(n) {
  if (!n.started) return null;
  return (n.stopped || now()) - n.started;
}

function nodeSub(n) {
  const st = nodeState(n);
  if (st === "waiting") return n.type === "data" ? "needs input" : `${(n.waits || []).length} in`;
  if (st === "idle") return "";
  const parts = [];
  if (n.attempts > 1) parts.push(`try ${n.attempts}`);
  const t = elapsed(n);
  if (t !== null && n.type !== "end") parts.push(duration(t));
  if (st === "bad" && n.exit_status !== null) parts.push(`exit ${n.exit_status}`);
  return parts.join(" · ");
}

function states(run) {
  const out = {};
  for (const level of run.levels) {
    for (const id of level) {
      if (!run.nodes.some((n) => n.id === id)) out[id] = { state: id === run.trigger ? "good" : "idle", sub: "" };
    }
  }
  for (const n of run.nodes) out[n.id] = { state: nodeState(n), sub: nodeSub(n) };
  return out;
}

// ---- header and summary ----------------------------------------------------------------------
const partial = (run) => (run.partial || []).length > 0;

function renderHead(run) {
  partialBanner(run.partial || [], (its) => `this is what ${document.body.dataset.host} last knew of the run; `
    + `${its} record of the run's nodes, times and logs is not shown`);
  put($("status"), pill(run.status));
  const cancel = $("cancel");
  cancel.hidden = !LIVE.has(run.status) || !may("operator");
  if (!LIVE.has(run.status)) { cancel.disabled = false; cancel.textContent = "Cancel run"; }
  $("rerun").hidden = LIVE.has(run.status) || !may("operator");
  const total = run.started ? (run.ended || now()) - run.started : null;
  const item = (k, v, key, title) => h("div", { "data-k": key }, h("div", { class: "k" }, k), h("div", { class: "v", title: title || "" }, v));
  put($("summary"),
    item("Status", STATUS_TEXT[run.status] || run.status, "status"),
    item("Host", run.exec_host || "—", "host"),
    item("Trigger", run.trigger, "trigger"),
    item("Created", ago(run.created), "created", when(run.created)),
    item("Started", run.started ? ago(run.started) : (partial(run) ? "unknown" : "not yet"), "started", when(run.started)),
    item("Duration", total === null ? "—" : duration(total), "duration"),
    run.rerun_of ? item("Re-run of", h("a", { href: runUrl(FLOW, run.rerun_of) }, run.rerun_of + (run.from_node ? ` from ${run.from_node}` : "")), "rerun-of") : null,
    run.workspace_from ? item("Workspace", h("span", {}, "Workspace copied from ", h("a", { href: runUrl(FLOW, run.workspace_from), class: "mono" }, run.workspace_from)), "workspace") : null);
  const values = Object.entries(run.values || {});
  put($("values"), values.length
    ? values.map(([k, v]) => h("span", { class: "chip", title: k }, `${k} = ${typeof v === "string" ? v : JSON.stringify(v)}`))
    : h("span", { class: "muted" }, "No values."));
  const why = run.status === "pending" ? run.pending_reason : run.reason;
  const reason = $("reason");
  reason.hidden = !why;
  reason.dataset.status = run.status;
  reason.textContent = why ? (run.status === "pending" ? `Waiting: ${why}` : why) : "";
}

/** Fields of a waiting data task with no value yet that the host will insist on. */
function stillNeeded(n) {
  const blank = (v) => v === undefined || v === null || (typeof v === "string" && v.trim() === "");
  return (n.fields || [])
    .filter((f) => (f.required || f.default === null) && blank((n.values || {})[f.id]))
    .map((f) => f.id);
}

// ---- data gates --------------------------------------------------------------------------------
function renderGates(run) {
  const waiting = run.nodes.filter((n) => n.type === "data" && n.status === "waiting");
  const ids = new Set(waiting.map((n) => n.id));
  for (const [id, card] of state.gates) {
    if (!ids.has(id)) { card.remove(); state.gates.delete(id); }
  }
  for (const n of waiting) {
    if (state.gates.has(n.id)) continue; // keep what the user typed
    const fields = (n.fields || []).map((f) => ({ ...f, default: n.values && f.id in n.values ? n.values[f.id] : f.default }));
    const form = !may("operator") ? h("p", { class: "muted", "data-needs": "operator" },
      `Answering needs the operator role (you are ${ROLE}).`) : dataForm(fields, {
      id: n.id,
      label: "Submit",
      submit: async (values) => {
        await api("/push/data", { method: "POST",
          body: { Ref: { ID: FLOW, Ver: run.ver }, Run: RUN, Form: { ID: n.id, Values: values } } });
        // the host keeps a partial answer and waits for the rest: say what is still needed
        const now = (await api(`/flows/${enc(FLOW)}/runs/${enc(RUN)}`)).nodes.find((x) => x.id === n.id);
        const still = now && now.status === "waiting" ? stillNeeded(now) : [];
        if (still.length) throw Object.assign(new Error(`${still[0]}: is required`), { field: still[0] });
      },
    });
    const card = h("section", { class: "card gate", "data-gate": n.id },
      h("header", {}, h("h2", {}, n.title || n.name || n.id), h("span", { class: "hint" }, `${n.name || n.id} is waiting for input`)),
      h("div", { class: "body" }, n.resolvers ? h("p", { class: "muted resolvers" }, `Only ${n.resolvers} may answer.`) : null, form));
    state.gates.set(n.id, card);
    $("gates").append(card);
  }
}

/** "approver=ada, notes=…": a gate's answer, in the order of its fields. */
function answerText(n) {
  const out = n.outputs || {};
  const text = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  const ids = [...(n.fields || []).map((f) => f.id), ...Object.keys(out).filter((k) => k !== "answered_by")];
  return [...new Set(ids)].filter((k) => k in out).map((k) => `${k}=${text(out[k])}`).join(", ");
}

/** Who answered each finished gate, when, and with what. */
function renderAnswers(run) {
  const box = $("answers");
  const answered = run.nodes.filter((n) => n.type === "data" && n.status === "finished" && n.outputs && "answered_by" in n.outputs);
  box.hidden = !answered.length;
  put(box, answered.map((n) => h("section", { class: "card gate-answer", "data-answer": n.id },
    h("header", {}, h("h2", {}, n.title || n.name || n.id), pill(nodeState(n))),
    h("div", { class: "body" },
      h("span", { class: "answer", title: when(n.stopped) },
        `Answered by ${n.outputs.answered_by || "an unknown user"} at ${clock(n.stopped)}: ${answerText(n)}`),
      n.reason ? h("span", { class: "muted" }, n.reason) : null))));
}

// ---- timeline ----------------------------------------------------------------------------------
function renderTimeline(run) {
  const nodes = run.nodes.filter((n) => n.started).sort((a, b) => a.started - b.started);
  const box = $("timeline");
  if (!nodes.length) return put(box, h("div", { class: "empty" }, "No node has started yet."));
  const t0 = run.started || nodes[0].started;
  const t1 = Math.max(run.ended || now(), ...nodes.map((n) => n.stopped || now()));
  const span = Math.max(0.001, t1 - t0);
  put(box,
    nodes.map((n) => {
      const st = nodeState(n);
      const bar = h("div", { class: "bar", "data-state": st, title: `${n.name}: ${duration(elapsed(n))}` });
      bar.style.left = `${((n.started - t0) / span) * 100}%`;
      bar.style.width = `${(((n.stopped || now()) - n.started) / span) * 100}%`;
      return h("div", { class: "tl-row", "data-node": n.id },
        h("div", { class: "name", title: n.id }, n.name || n.id), h("div", { class: "track" }, bar),
        h("div", { class: "dur" }, duration(elapsed(n))));
    }),
    h("div", { class: "tl-axis" }, h("span"), h("div", { class: "ends" }, h("span", {}, "0s"), h("span", {}, duration(span))), h("span")));
}

// ---- the selected node's panel -----------------------------------------------------------------
function nodeById(id) {
  return state.run && state.run.nodes.find((n) => n.id === id);
}

function renderNodeHead() {
  const n = nodeById(state.selected);
  const title = $("node-title");
  const raw = $("raw-log");
  if (!n) {
    put(title, h("h2", {}, state.selected || "Log"));
    $("rerun-from").hidden = true;
    put($("node-meta"), h("span", {}, "Triggers have no log."));
    raw.hidden = true;
    return;
  }
  put(title, h("h2", {}, n.name || n.id), pill(nodeState(n)));
  $("rerun-from").hidden = LIVE.has(state.run.status) || !may("operator") || !["exec", "fetch", "git-checkout", "git-merge", "timer", "data"].includes(n.type);
  raw.hidden = false;
  raw.href = `${document.body.dataset.base}/flows/${enc(FLOW)}/runs/${enc(RUN)}/nodes/${enc(n.id)}/log`;
  raw.download = `${RUN}-${n.id}.log`;
  const meta = [h("span", { class: "mono" }, n.id), h("span", {}, n.type)];
  const t = elapsed(n);
  if (t !== null) meta.push(h("span", {}, duration(t)));
  if (n.exit_status !== null) meta.push(h("span", {}, `exit ${n.exit_status}`));
  if (n.waits) meta.push(h("span", {}, `seen: ${n.waits.join(", ") || "nothing yet"}`));
  if (n.reason) meta.push(h("span", {}, n.reason));
  put($("node-meta"), meta);
  const outs = Object.entries(n.outputs || {});
  const files = n.artifacts || [];
  const box = $("node-outputs");
  box.hidden = !outs.length && !files.length;
  const base = `${document.body.dataset.base}/flows/${enc(FLOW)}/runs/${enc(RUN)}/artifacts/${enc(n.id)}/`;
  put(box,
    outs.length ? [h("h3", {}, "Outputs"), h("dl", {}, outs.flatMap(([k, v]) =>
      [h("dt", { class: "mono" }, k), h("dd", { class: "mono" }, typeof v === "string" ? v : JSON.stringify(v))]))] : [],
    files.length ? [h("h3", {}, "Artifacts"), h("ul", { class: "artifacts" }, files.map((a) => h("li", {},
      h("a", { class: "mono", href: base + a.path.split("/").map(encodeURIComponent).join("/"), download: "" }, a.path),
      h("span", { class: "size" }, bytes(a.size)),
      h("span", { class: "mono sum", title: `sha256 ${a.sha256}` }, a.sha256.slice(0, 12)))))] : []);
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function select(id, { user = false } = {}) {
  if (user) state.picked = true;
  if (id === state.selected) return;
  state.selected = id;
  state.graph.select(id);
  if (user) history.replaceState(null, "", `#node=${encodeURIComponent(id)}`);
  renderNodeHead();
  const n = nodeById(id);
  if (n && partial(state.run)) logs.notice(`The log is on ${state.run.partial.join(", ")}, which cannot be reached.`);
  else if (n) logs.show(id, { finished: nodeState(n) !== "running" }).catch(showError);
  else logs.notice("A trigger starts the run; pick a task to see its output.");
}

function autoSelect(run) {
  if (state.picked && state.selected) return;
  const wanted = decodeURIComponent((location.hash.match(/node=([^&]+)/) || [])[1] || "");
  const pick = (wanted && run.nodes.some((n) => n.id === wanted) && wanted)
    || (run.nodes.find((n) => n.status === "running") || {}).id
    || (run.nodes.find((n) => n.status === "waiting" && n.type === "data") || {}).id
    || (state.selected && state.selected)
    || ([...run.nodes].filter((n) => n.started).sort((a, b) => b.started - a.started)[0] || {}).id
    || (run.nodes[0] || {}).id;
  if (wanted) state.picked = true;
  if (pick) select(pick);
}

// ---- state -------------------------------------------------------------------------------------
function render() {
  const run = state.run;
  if (!state.graph) {
    const info = {};
    for (const id of run.levels[0] || []) info[id] = { name: state.triggers[id] || id, kind: "trigger" };
    for (const n of run.nodes) info[n.id] = { name: n.name || n.id, kind: n.class === "merge" ? `merge · ${n.type}` : n.type };
    state.graph = drawGraph({ levels: run.levels, edges: run.edges, info, onSelect: (id) => select(id, { user: true }) });
    put($("graph"), state.graph.svg);
  }
  state.graph.update(states(run));
  renderHead(run);
  renderGates(run);
  renderAnswers(run);
  renderTimeline(run);
  autoSelect(run);
  renderNodeHead();
  const n = nodeById(state.selected);
  if (n && !partial(run)) logs.finished(nodeState(n) !== "running");
  document.body.dataset.runStatus = run.status;
}

async function load() {
  state.run = await api(`/flows/${enc(FLOW)}/runs/${enc(RUN)}`);
  clearError();
  render();
}

export async function start() {
  logs = new LogPanel({
    box: $("log"), find: $("log-find"), count: $("log-count"), prev: $("log-prev"), next: $("log-next"),
    follow: $("log-follow"), times: $("log-times"),
  }, { flow: FLOW, run: RUN });
  const refresh = debounce(() => load().catch(showError), 60);
  $("cancel").addEventListener("click", async (ev) => {
    const btn = ev.currentTarget;
    if (!confirm(`Cancel run ${RUN}? Its running tasks are stopped.`)) return;
    btn.disabled = true;
    btn.textContent = "Cancelling…";
    try {
      await api(`/flows/${enc(FLOW)}/runs/${enc(RUN)}/cancel`, { method: "POST" });
    } catch (err) {
      btn.disabled = false;
      btn.textContent = "Cancel run";
      if (err.status !== 409) showError(err);
    }
  });
  try {
    const flow = await api(`/flows/${enc(FLOW)}`);
    for (const t of flow.triggers) state.triggers[t.id] = t.name || t.id;
  } catch (err) {
    if (err.status !== 404) throw err; // a run of a flow no longer configured still shows
  }
  const rerun = async (from) => {
    try {
      const res = await api(`/flows/${enc(FLOW)}/runs/${enc(RUN)}/rerun${from ? `?from=${enc(from)}` : ""}`, { method: "POST" });
      location.assign(runUrl(FLOW, res.run_id));
    } catch (err) {
      showError(err);
    }
  };
  $("rerun").addEventListener("click", () => rerun(""));
  $("rerun-from").addEventListener("click", () => rerun(state.selected));
  await load();
  follow({
    query: () => `run=${enc(RUN)}` + (state.lastSeq ? `&after=${state.lastSeq}` : ""),
    onEvent: (e) => {
      if (e.seq <= state.lastSeq) return;
      state.lastSeq = e.seq;
      const o = e.tag === "sys.node.update" && e.opts;
      const lines = o && (Array.isArray(o.lines) ? o.lines : typeof o.line === "string" ? [o.line] : null);
      if (lines) logs.lines(e.source_node, lines, e.at);
      else refresh();
    },
    onOpen: (again) => { if (again) refresh(); },
  });
  // the stream carries this host's runs only: a run executing on another host is polled instead
  setInterval(() => {
    const run = state.run;
    if (!run || !LIVE.has(run.status) || !run.exec_host || run.exec_host === document.body.dataset.host) return;
    load().catch(showError);
    if (nodeById(state.selected) && nodeState(nodeById(state.selected)) === "running") logs.refetch().catch(showError);
  }, REMOTE_POLL);
  setInterval(() => {
    if (state.run && LIVE.has(state.run.status)) {
      state.graph.update(states(state.run));
      renderHead(state.run);
      renderTimeline(state.run);
      renderNodeHead();
    }
  }, 1000);
  document.getElementById("flow-link").href = flowUrl(FLOW);
}
