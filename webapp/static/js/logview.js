// A log in a box that holds only the lines in sight: numbered, timed, coloured, with search marks,
// following the end until the reader scrolls up. Log text only ever becomes text nodes.

import { parse, RESET } from "./ansi.js";
import { h, put, debounce, when } from "./dom.js";
import { LogSearch, starts } from "./logsearch.js";

const LINE = 20; // px, the height of one line (floe.css: .log .line)
const SPARE = 40; // lines drawn above and below those in sight
const TAB = 8;

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** "14:03:07.215": a line's local time of day, for the time gutter. */
function stamp(at) {
  const d = new Date(at * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** The text of line `text` with its colour runs and search marks, as DOM nodes. */
function pieces(text, runs, needle, current) {
  const marks = needle ? starts(text, needle).map((s) => [s, s + needle.length]) : [];
  if (!runs && !marks.length) return [text];
  const cuts = new Set([0, text.length]);
  for (const [a, b] of [...(runs || []), ...marks]) cuts.add(a).add(b);
  const points = [...cuts].sort((x, y) => x - y);
  const out = [];
  let r = 0;
  let m = 0;
  for (let k = 0; k + 1 < points.length; k++) {
    const [a, b] = [points[k], points[k + 1]];
    while (runs && r < runs.length && runs[r][1] <= a) r++;
    while (m < marks.length && marks[m][1] <= a) m++;
    let node = text.slice(a, b);
    if (runs && r < runs.length && runs[r][0] <= a) node = h("span", { class: runs[r][2] }, node);
    if (m < marks.length && marks[m][0] <= a) node = h("mark", { class: marks[m][0] === current ? "current" : null }, node);
    out.push(node);
  }
  return out;
}

export class LogView {
  /** `els`: the scrolling box and the toolbar's search input, count, prev/next, follow and times buttons. */
  constructor(els) {
    this.box = els.box;
    this.ui = els;
    this.sizer = h("div", { class: "log-size" }, (this.rows = h("div", { class: "log-rows" })));
    this.search = new LogSearch();
    this.frame = 0;
    this.clear([]);
    this.box.addEventListener("scroll", () => this.scrolled(), { passive: true });
    this.ui.find.addEventListener("input", debounce(() => this.query(), 150));
    this.ui.find.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        this.go(ev.shiftKey ? -1 : 1);
      }
    });
    this.ui.prev.addEventListener("click", () => this.go(-1));
    this.ui.next.addEventListener("click", () => this.go(1));
    this.ui.follow.addEventListener("click", () => this.setFollowing(!this.following));
    this.ui.times.addEventListener("click", () => {
      const on = this.box.classList.toggle("with-times");
      this.ui.times.setAttribute("aria-pressed", String(on));
    });
    new ResizeObserver(() => this.schedule()).observe(this.box);
  }

  /** Start over, empty; `times[i]` is line i's time (`at`), filled in as it becomes known. */
  clear(times) {
    this.text = [];
    this.runs = [];
    this.times = times;
    this.state = RESET;
    this.widest = 0;
    this.setFollowing(true);
    this.search.find(this.ui.find.value, this.text);
    this.ui.count.textContent = this.search.label;
  }

  /** Show `message` instead of lines (until lines come). */
  notice(message) {
    put(this.box, h("span", { class: "placeholder" }, message));
  }

  get size() {
    return this.text.length;
  }

  /** Append lines as printed (with their escape sequences). */
  add(lines) {
    for (const raw of lines) {
      const line = parse(raw, this.state);
      this.state = line.state;
      this.text.push(line.text);
      this.runs.push(line.runs);
      const width = line.text.length + (line.text.includes("\t") ? (TAB - 1) * line.text.split("\t").length : 0);
      if (width > this.widest) this.widest = width;
    }
    this.search.more(this.text);
    this.schedule();
  }

  /** Draw in the next frame (once, however often it is asked). */
  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  draw() {
    this.frame = 0;
    this.ui.count.textContent = this.search.label;
    const n = this.text.length;
    if (!n) return; // the notice stays
    const box = this.box;
    if (box.firstChild !== this.sizer) put(box, this.sizer);
    box.style.setProperty("--digits", String(String(n).length));
    this.sizer.style.height = `${n * LINE}px`;
    this.sizer.style.minWidth = `calc(var(--gutter) + ${this.widest + 2}ch)`;
    if (this.following) box.scrollTop = box.scrollHeight;
    const first = Math.max(0, Math.floor(box.scrollTop / LINE) - SPARE);
    const last = Math.min(n, Math.ceil((box.scrollTop + box.clientHeight) / LINE) + SPARE);
    this.rows.style.transform = `translateY(${first * LINE}px)`;
    const hit = this.search.hit;
    const rows = [];
    for (let i = first; i < last; i++) {
      const at = this.times[i];
      rows.push(h("div", { class: "line" },
        h("span", { class: "ln", "data-n": i + 1, "data-at": at ? stamp(at) : null, title: at ? `${when(at)} (${stamp(at)})` : null }),
        pieces(this.text[i], this.runs[i], this.search.needle, hit && hit[0] === i ? hit[1] : -1)));
    }
    this.rows.replaceChildren(...rows);
  }

  scrolled() {
    const box = this.box;
    const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < LINE;
    if (atEnd !== this.following) this.setFollowing(atEnd); // up: stop following; back at the end: follow again
    this.schedule();
  }

  setFollowing(on) {
    this.following = on;
    this.ui.follow.setAttribute("aria-pressed", String(on));
    this.ui.follow.textContent = on ? "Following" : "Follow";
    this.ui.follow.title = on ? "New lines scroll into view; scroll up to stop" : "Jump to the end and follow new lines";
    if (on) this.schedule();
  }

  /** Search afresh for what the box holds; the first match from the top line in sight is current. */
  query() {
    this.search.find(this.ui.find.value, this.text, Math.floor(this.box.scrollTop / LINE));
    this.reveal();
  }

  go(by) {
    this.search.step(by);
    this.reveal();
  }

  /** Scroll the current match into sight (which stops following). */
  reveal() {
    const hit = this.search.hit;
    if (!hit) return this.draw();
    this.setFollowing(false);
    const box = this.box;
    const y = hit[0] * LINE;
    if (y < box.scrollTop || y + LINE > box.scrollTop + box.clientHeight) {
      box.scrollTop = Math.max(0, y - (box.clientHeight - LINE) / 2);
    }
    this.draw();
    const mark = this.rows.querySelector("mark.current");
    const ln = this.rows.querySelector(".ln");
    if (!mark || !ln) return;
    const m = mark.getBoundingClientRect();
    const left = ln.getBoundingClientRect().right;
    const right = box.getBoundingClientRect().left + box.clientLeft + box.clientWidth;
    if (m.left < left) box.scrollLeft -= left - m.left + 2 * LINE;
    else if (m.right > right) box.scrollLeft += m.right - right + 2 * LINE;
  }
}
