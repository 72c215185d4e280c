// A node's log: fetched once (text/plain), then followed line by line from the event stream.
//
// The k-th `sys.node.update` line event of a node is the k-th line of its stored log, so lines the
// fetch already returned are skipped by their index, whichever of the two arrives first.

import { api, enc } from "./api.js";
import { h, put } from "./dom.js";

const MAX_LINES = 20000; // lines kept in the page; the raw log link has them all

export class LogPanel {
  constructor(pre, { flow, run }) {
    this.pre = pre;
    this.flow = flow;
    this.run = run;
    this.node = "";
    this.counts = {}; // node -> line events seen on the stream
    this.shown = 0; // lines of `node` on screen (by index)
    this.early = null; // lines that arrived while the fetch was in flight
    this.done = false;
    this.token = 0;
  }

  /** Every line event of the run, in stream order. */
  line(node, text) {
    const k = (this.counts[node] = (this.counts[node] || 0) + 1);
    if (node !== this.node) return;
    if (this.early) this.early.push([k, text]);
    else if (k > this.shown) this.append([text], k);
  }

  /** Show `node`'s log: fetch what is stored, then follow. */
  async show(node, { finished = false } = {}) {
    const token = ++this.token;
    this.node = node;
    this.shown = 0;
    this.done = finished;
    this.early = [];
    put(this.pre, h("span", { class: "placeholder" }, "Loading…"));
    let text = "";
    try {
      text = await api(`/flows/${enc(this.flow)}/runs/${enc(this.run)}/nodes/${enc(node)}/log`, { text: true });
    } catch (err) {
      if (token !== this.token) return;
      this.early = null;
      put(this.pre, h("span", { class: "placeholder" }, `Could not load the log: ${err.message}`));
      return;
    }
    if (token !== this.token) return; // another node was picked meanwhile
    const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
    const early = this.early;
    this.early = null;
    put(this.pre);
    this.append(lines, lines.length);
    for (const [k, t] of early) if (k > this.shown) this.append([t], k);
    this.placeholder();
  }

  /** Fetch the shown node's log again and add the lines not on screen (no stream for it). */
  async refetch() {
    if (!this.node || this.early) return;
    const node = this.node;
    const token = this.token;
    const text = await api(`/flows/${enc(this.flow)}/runs/${enc(this.run)}/nodes/${enc(node)}/log`, { text: true });
    if (token !== this.token || this.early) return;
    const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
    if (lines.length > this.shown) this.append(lines.slice(this.shown), lines.length);
  }

  /** Mark the node finished (changes the empty-log text). */
  finished(flag) {
    this.done = flag;
    this.placeholder();
  }

  placeholder() {
    if (this.shown === 0 && !this.early) {
      put(this.pre, h("span", { class: "placeholder" }, this.done ? "No output." : "No output yet."));
    }
  }

  append(lines, upTo) {
    if (!lines.length) return;
    if (this.shown === 0) put(this.pre);
    const stick = this.pre.scrollHeight - this.pre.scrollTop - this.pre.clientHeight < 40;
    const frag = document.createDocumentFragment();
    for (const t of lines) frag.append(h("span", { class: "line" }, t === "" ? " " : t));
    this.pre.append(frag);
    this.shown = upTo;
    while (this.pre.childElementCount > MAX_LINES) this.pre.firstElementChild.remove();
    if (stick) this.pre.scrollTop = this.pre.scrollHeight;
  }
}
