// The flow's graph as SVG: rows are the layout levels (triggers on top), edges are listened tags.
// Built once per flow; `update` only changes states and labels, so animations keep running.

import { s, duration } from "./dom.js";

const W = 168;
const H = 50;
const GAP_X = 28;
const GAP_Y = 46;
const PAD = 12;

/**
 * levels: [[id]], edges: [{from, to, tag}], info: {id: {name, kind}}.
 * Returns {svg, update(states), select(id)}; states: {id: {state, sub}}.
 */
export function drawGraph({ levels, edges, info, onSelect }) {
  const widest = Math.max(1, ...levels.map((l) => l.length));
  const width = widest * W + (widest - 1) * GAP_X + PAD * 2;
  const height = levels.length * H + (levels.length - 1) * GAP_Y + PAD * 2;
  const pos = {};
  levels.forEach((level, row) => {
    const rowWidth = level.length * W + (level.length - 1) * GAP_X;
    const x0 = (width - rowWidth) / 2;
    level.forEach((id, i) => {
      pos[id] = { x: x0 + i * (W + GAP_X), y: PAD + row * (H + GAP_Y) };
    });
  });

  const svg = s("svg", { class: "graph", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": "flow graph" });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
    markerHeight: 7, orient: "auto-start-reverse" }, s("path", { class: "arrow", d: "M0,0 L10,5 L0,10 z" }))));

  const edgeEls = [];
  for (const e of edges) {
    const a = pos[e.from];
    const b = pos[e.to];
    if (!a || !b) continue;
    const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y;
    const bend = Math.max(24, Math.abs(y2 - y1) / 2);
    const d = y2 > y1
      ? `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2 - 1}`
      : `M${x1},${y1} C${x1},${y1 + 60} ${x2},${y2 - 60} ${x2},${y2 - 1}`;
    const path = s("path", { class: "edge", d, "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to },
      s("title", { text: e.tag }));
    edgeEls.push(path);
    svg.append(path);
  }

  const nodes = {};
  for (const [id, p] of Object.entries(pos)) {
    const meta = info[id] || { name: id, kind: "" };
    const label = s("text", { x: 16, y: 21 }, clip(meta.name || id, 20));
    const sub = s("text", { class: "sub", x: 16, y: 38 }, meta.kind || "");
    const g = s("g", { class: "node", transform: `translate(${p.x},${p.y})`, "data-node": id, "data-state": "idle",
      tabindex: 0, role: "button", "aria-label": `${meta.name || id}` },
      s("title", { text: `${meta.name || id} (${id})` }),
      s("rect", { class: "halo", x: 0, y: 0, width: W, height: H, rx: 9 }),
      s("rect", { class: "box", x: 0, y: 0, width: W, height: H, rx: 9 }),
      s("rect", { class: "bar", x: 0, y: 8, width: 4, height: H - 16, rx: 2 }),
      label, sub);
    if (onSelect) {
      g.addEventListener("click", () => onSelect(id));
      g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") onSelect(id); });
    }
    nodes[id] = { g, sub, kind: meta.kind || "" };
    svg.append(g);
  }

  function update(states) {
    for (const [id, n] of Object.entries(nodes)) {
      const st = states[id] || { state: "idle" };
      if (n.g.dataset.state !== st.state) n.g.dataset.state = st.state;
      const text = st.sub ? `${n.kind} · ${st.sub}` : n.kind;
      if (n.sub.textContent !== text) n.sub.textContent = text;
    }
    for (const path of edgeEls) {
      const from = states[path.dataset.from];
      path.classList.toggle("done", !!from && ["good", "bad", "error"].includes(from.state));
    }
  }

  function select(id) {
    for (const [nid, n] of Object.entries(nodes)) n.g.classList.toggle("selected", nid === id);
  }

  return { svg, update, select };
}

function clip(text, n) {
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

export { duration };
