// Terminal colours of a log line: SGR 30–37, 90–97, 39, bold 1/22 and reset 0 become styled runs;
// every other escape sequence and control character is dropped. Nothing here touches the DOM.

// CSI (ESC [ … final), OSC (ESC ] … BEL or ST), any other ESC sequence, 8-bit CSI, a carriage
// return with text after it, other C0 controls but tab.
const CODES = /\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]?|\x9b[0-?]*[ -/]*[@-~]|(\r)(?!$)|[\x00-\x08\x0b-\x1f\x7f]/g;
const PLAIN = /[\x00-\x08\x0b-\x1f\x7f\x9b]/; // a line without these is its own text

/** No colour, not bold: the state a log starts in. */
export const RESET = Object.freeze({ fg: 0, bold: false });

/** The state after one SGR sequence's parameters (`"1;31"`; `""` is a reset). */
function sgr(state, params) {
  let { fg, bold } = state;
  const ps = params === "" ? [0] : params.split(";").map((p) => (p === "" ? 0 : Number(p)));
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i];
    if (p === 0) ({ fg, bold } = RESET);
    else if (p === 1) bold = true;
    else if (p === 22) bold = false;
    else if ((p >= 30 && p <= 37) || (p >= 90 && p <= 97)) fg = p;
    else if (p === 39) fg = 0;
    else if (p === 38 || p === 48) i += ps[i + 1] === 5 ? 2 : ps[i + 1] === 2 ? 4 : 1; // 256/rgb colour: skip its arguments
  }
  return fg === state.fg && bold === state.bold ? state : { fg, bold };
}

/** The CSS classes of a state (`"ansi-31 ansi-bold"`), or "" for plain text. */
export function classes(state) {
  return [state.fg ? `ansi-${state.fg}` : "", state.bold ? "ansi-bold" : ""].filter(Boolean).join(" ");
}

/**
 * One line as printed, in the colour state the line before it left: its visible text, its styled
 * runs `[start, end, classes]` (null when it has none), and the state it leaves for the next line.
 */
export function parse(raw, state) {
  if (!PLAIN.test(raw)) {
    const cls = classes(state);
    return { text: raw, runs: cls && raw ? [[0, raw.length, cls]] : null, state };
  }
  let text = "";
  let runs = [];
  let from = 0;
  const add = (chunk) => {
    if (!chunk) return;
    const cls = classes(state);
    if (cls) {
      const last = runs[runs.length - 1];
      if (last && last[1] === text.length && last[2] === cls) last[1] += chunk.length;
      else runs.push([text.length, text.length + chunk.length, cls]);
    }
    text += chunk;
  };
  for (const m of raw.matchAll(CODES)) {
    add(raw.slice(from, m.index));
    from = m.index + m[0].length;
    if (m[2] === "m") state = sgr(state, m[1]);
    else if (m[3]) { text = ""; runs = []; } // a carriage return: what follows overwrites the line
  }
  add(raw.slice(from));
  return { text, runs: runs.length ? runs : null, state };
}
