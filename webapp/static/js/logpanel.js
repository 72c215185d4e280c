// A node's log: fetched once (text/plain), then followed line by line from the event stream.
//
// The k-th `sys.node.update` line event of a node is the k-th line of its stored log, so lines the
// fetch already returned are skipped by their index, whichever of the two arrives first; the
// event's `at` is the line's time, whichever way the line came.

import { api, enc } from "./api.js";
import { LogView } from "./logview.js";

const split = (text) => (text === "" ? [] : text.replace(/\n$/, "").split("\n"));

export class LogPanel {
  /** `els`: see LogView; `flow`, `run`: whose logs. */
  constructor(els, { flow, run }) {
    this.view = new LogView(els);
    this.flow = flow;
    this.run = run;
    this.node = "";
    this.counts = {}; // node -> line events seen on the stream
    this.times = {}; // node -> the `at` of each of its lines seen on the stream
    this.early = null; // lines that arrived while the fetch was in flight
    this.done = false;
    this.token = 0;
    this.view.notice("Pick a node.");
  }

  get shown() {
    return this.view.size; // lines of `node` on screen (by index)
  }

  url(node) {
    return `/flows/${enc(this.flow)}/runs/${enc(this.run)}/nodes/${enc(node)}/log`;
  }

  /** Every batch of lines of the run (one event, one time), in stream order. */
  lines(node, texts, at) {
    const times = (this.times[node] ||= []);
    const first = (this.counts[node] || 0) + 1;
    for (let i = 0; i < texts.length; i++) times[first - 1 + i] = at;
    this.counts[node] = first - 1 + texts.length;
    if (node !== this.node) return;
    if (this.early) {
      texts.forEach((text, i) => this.early.push([first + i, text]));
      return;
    }
    const fresh = texts.slice(Math.max(0, this.shown + 1 - first));
    if (fresh.length) this.view.add(fresh);
    if (fresh.length < texts.length) this.view.schedule(); // their times are new
  }

  /** Show `node`'s log: fetch what is stored, then follow. */
  async show(node, { finished = false } = {}) {
    const token = ++this.token;
    this.node = node;
    this.done = finished;
    this.early = [];
    this.view.clear((this.times[node] ||= []));
    this.view.notice("Loading…");
    let text = "";
    try {
      text = await api(this.url(node), { text: true });
    } catch (err) {
      if (token !== this.token) return;
      this.early = null;
      this.view.notice(`Could not load the log: ${err.message}`);
      return;
    }
    if (token !== this.token) return; // another node was picked meanwhile
    const lines = split(text);
    const early = this.early;
    this.early = null;
    this.view.add(lines);
    for (const [k, t] of early) if (k > this.shown) this.view.add([t]);
    this.placeholder();
  }

  /** Show `message` and no node's log (a trigger, or a log on a host that cannot be reached). */
  notice(message) {
    this.token++;
    this.node = "";
    this.early = null;
    this.view.clear([]);
    this.view.notice(message);
  }

  /** Fetch the shown node's log again and add the lines not on screen (no stream for it). */
  async refetch() {
    if (!this.node || this.early) return;
    const token = this.token;
    const text = await api(this.url(this.node), { text: true });
    if (token !== this.token || this.early) return;
    const lines = split(text);
    if (lines.length > this.shown) this.view.add(lines.slice(this.shown));
  }

  /** Mark the node finished (changes the empty-log text). */
  finished(flag) {
    this.done = flag;
    this.placeholder();
  }

  placeholder() {
    if (this.node && this.shown === 0 && !this.early) this.view.notice(this.done ? "No output." : "No output yet.");
  }
}
