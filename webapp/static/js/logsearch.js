// Finding text in a log: every match of a query (case-insensitive) as [line, start], kept up to
// date as lines arrive, and a current match to step through. Nothing here touches the DOM.

export const MAX_MATCHES = 100000; // beyond this the count says "100000+"; every match is still highlighted

/** Where `needle` (already lower-case) occurs in `text`: the start of each match. */
export function starts(text, needle) {
  const out = [];
  if (!needle) return out;
  const hay = text.toLowerCase();
  for (let i = hay.indexOf(needle); i !== -1; i = hay.indexOf(needle, i + needle.length)) out.push(i);
  return out;
}

export class LogSearch {
  constructor() {
    this.needle = "";
    this.hits = []; // [line index, start]
    this.current = -1; // index into hits
    this.scanned = 0; // lines searched so far
  }

  /** Search `lines` for `query` afresh; the current match becomes the first at or after line `from`. */
  find(query, lines, from = 0) {
    this.needle = query.toLowerCase();
    this.hits = [];
    this.scanned = 0;
    this.more(lines);
    const at = this.hits.findIndex(([line]) => line >= from);
    this.current = this.hits.length ? Math.max(0, at) : -1;
  }

  /** Search the lines added since the last call. */
  more(lines) {
    if (!this.needle) return;
    for (; this.scanned < lines.length && this.hits.length < MAX_MATCHES; this.scanned++) {
      for (const s of starts(lines[this.scanned], this.needle)) this.hits.push([this.scanned, s]);
    }
    if (this.hits.length > MAX_MATCHES) this.hits.length = MAX_MATCHES;
    if (this.current === -1 && this.hits.length) this.current = 0;
  }

  /** Step `by` (+1 next, -1 previous) through the matches, wrapping around; the match or null. */
  step(by) {
    if (!this.hits.length) return null;
    this.current = (this.current + by + this.hits.length) % this.hits.length;
    return this.hits[this.current];
  }

  /** The current match [line, start], or null. */
  get hit() {
    return this.current >= 0 ? this.hits[this.current] : null;
  }

  /** "3 of 17", "No matches", or "" with no query. */
  get label() {
    if (!this.needle) return "";
    if (!this.hits.length) return "No matches";
    const total = this.hits.length >= MAX_MATCHES ? `${MAX_MATCHES}+` : String(this.hits.length);
    return `${this.current + 1} of ${total}`;
  }
}
