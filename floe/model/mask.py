"""Masking secret values in output lines and messages: whole, per line, base64 forms, split across lines."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
MIN_PIECE = 4  # shortest text masked as a piece of a secret: a line of it, a part split across lines
MIN_MIDDLE = 8  # shortest whole line masked for being a middle part of a secret
MIN_B64 = 8  # shortest base64 form masked (shorter ones would hit ordinary words)
MIN_RUN = 12  # shortest part of a secret masked anywhere in a line (inside other text)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ARMOUR = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")  # a PEM key's first and last lines: not secret


def _b64_forms(value: str) -> set[str]:
    """The base64 texts of `value` (standard and urlsafe, padded or not), and the stable middle
    parts of its encoding inside a longer base64 stream, at each of the 3 byte offsets."""
    raw = value.encode("utf-8")
    n = len(raw)
    forms: set[str] = set()
    whole = base64.b64encode(raw).decode("ascii")
    forms.update((whole, whole.rstrip("=")))
    for k in range(3):
        # in `k` bytes of anything, then `raw`, then anything: the characters whose six bits all
        # come from `raw` do not depend on what surrounds it
        enc = base64.b64encode(b"\0" * k + raw + b"\0\0").decode("ascii")
        lo, hi = -(-8 * k // 6), (8 * k + 8 * n) // 6
        forms.add(enc[lo:hi])
    forms |= {f.replace("+", "-").replace("/", "_") for f in forms}
    return {f for f in forms if len(f) >= MIN_B64}


class Masker:
    """Replaces every occurrence of the given secret values with `***`.

    Masked, in any text (`mask`): each secret; each line (stripped, of 4 characters or more) of a
    multi-line secret on its own; the base64 encodings of each secret, standard and urlsafe, with
    or without padding, and the parts of them that stay the same when the secret is encoded inside
    a longer base64 stream (at least 8 characters); any run of 12 characters or more of one of
    those inside other text. Overlapping occurrences of several secrets are masked as one. A
    secret shorter than 4 characters is masked only as a whole word (not inside a longer word),
    and not in base64. Empty secrets are ignored.

    In a stream of output lines (`stream()`), also: a line ending with the first 4 or more
    characters of a secret (the line break may split it), a line starting with its last 4 or more,
    a line starting with the rest of a secret whose beginning ended the previous line (however
    short the rest), and a line that is wholly a part (8 characters or more) of a secret.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        patterns: set[str] = set()
        short: set[str] = set()
        for secret in secrets:
            for value in {secret, secret.strip()}:
                if len(value) >= MIN_PIECE:
                    patterns.add(value)
                    patterns |= _b64_forms(value)
                elif value:
                    short.add(value)
            pieces = [p.strip() for p in _LINE_BREAK.split(secret)]
            if len(pieces) > 1:
                patterns.update(p for p in pieces if len(p) >= MIN_PIECE and not _ARMOUR.fullmatch(p))
        ordered = sorted(patterns, key=lambda p: (-len(p), p))  # longest first
        # an output line never holds a line break: the patterns a line can hold are indexed
        self._multi = tuple(p for p in ordered if _LINE_BREAK.search(p))
        lines = [p for p in ordered if not _LINE_BREAK.search(p)]
        self._by_head: dict[str, list[str]] = {}  # first 4 characters -> the patterns, longest first
        self._grams: dict[str, list[tuple[str, int]]] = {}  # any 4 characters -> (pattern, where)
        self._tiny: dict[str, list[str]] = {}  # first 1-3 characters of a pattern of 4-6
        for p in lines:
            self._by_head.setdefault(p[:MIN_PIECE], []).append(p)
            for j in range(len(p) - MIN_PIECE + 1):
                self._grams.setdefault(p[j : j + MIN_PIECE], []).append((p, j))
            if len(p) < 2 * MIN_PIECE - 1:
                for t in range(1, MIN_PIECE):
                    self._tiny.setdefault(p[:t], []).append(p)
        chars = "".join(re.escape(c) for c in sorted({c for p in lines for c in p}))
        # a stretch of MIN_RUN characters or more that patterns use: where a shared run can be
        self._stretch = re.compile(f"[{chars}]{{{MIN_RUN},}}") if chars else None
        heads = "|".join(re.escape(h) for h in sorted(self._by_head))
        # every place where a pattern may start (a lookahead, so overlapping places are all found)
        self._heads = re.compile(f"(?=({heads}))") if heads else None
        self._any_head = re.compile(heads) if heads else None  # a cheap first look (no lookahead)
        words = "|".join(re.escape(s) for s in sorted(short, key=len, reverse=True))
        self._short = re.compile(rf"(?<!\w)(?:{words})(?!\w)") if short else None

    def __bool__(self) -> bool:
        return self._heads is not None or bool(self._multi) or self._short is not None

    def mask(self, text: str) -> str:
        """`text` with every occurrence of a secret (and of its forms above) replaced by `***`."""
        if not text or not self:
            return text
        spans: list[tuple[int, int]] = []
        self._scan(text, spans, None)
        for p in self._multi:
            i = text.find(p)
            while i != -1:
                spans.append((i, i + len(p)))
                i = text.find(p, i + 1)
        return _apply(text, spans)

    def mask_value(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string in it masked (keys too)."""
        if not self:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, Mapping):
            return {self.mask(str(k)): self.mask_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_value(v) for v in value]
        return value

    def stream(self) -> LineMasker:
        """A masker of one stream of lines (one node's output), which sees secrets split at breaks."""
        return LineMasker(self)

    def _scan(self, text: str, spans: list[tuple[int, int]], pending: list[tuple[str, int]] | None) -> None:
        """Whole patterns and short secrets in `text`; with `pending` (a line of a stream), also a
        beginning of a pattern at its end, noting in `pending` each (pattern, characters still due)
        that the next line may complete with 3 characters or fewer."""
        n = len(text)
        if self._heads is not None and self._any_head is not None and self._any_head.search(text):
            for m in self._heads.finditer(text):
                i = m.start()
                for p in self._by_head[m.group(1)]:
                    if text.startswith(p, i):
                        spans.append((i, i + len(p)))
                    elif pending is not None and n - i < len(p) and p.startswith(text[i:]):
                        spans.append((i, n))
                        if len(p) - (n - i) < MIN_PIECE:
                            pending.append((p, len(p) - (n - i)))
        if pending is not None:
            for t in range(1, min(MIN_PIECE, n + 1)):
                for p in self._tiny.get(text[n - t :], ()):
                    if len(p) - t < MIN_PIECE:
                        pending.append((p, len(p) - t))
        self._runs(text, spans)
        if self._short is not None:
            spans.extend(m.span() for m in self._short.finditer(text))

    def _runs(self, text: str, spans: list[tuple[int, int]]) -> None:
        """Every run of MIN_RUN characters or more that `text` shares with a pattern. Such a run holds
        one of the 4 characters starting at every (MIN_RUN - 3)-th place: only those are looked up."""
        n = len(text)
        grams = self._grams
        for i in range(0, n - MIN_PIECE + 1, MIN_RUN - MIN_PIECE + 1):
            for p, j in grams.get(text[i : i + MIN_PIECE], ()):
                a, b = i, j
                while a > 0 and b > 0 and text[a - 1] == p[b - 1]:
                    a, b = a - 1, b - 1
                e, f = i + MIN_PIECE, j + MIN_PIECE
                while e < n and f < len(p) and text[e] == p[f]:
                    e, f = e + 1, f + 1
                if e - a >= MIN_RUN:
                    spans.append((a, e))

    def _quiet(self, lines: list[str]) -> bool:
        """True when no line of `lines` can hold any part of a secret that `_scan` or `_starts`
        would mask or carry over: checked on the whole batch at once (no head anywhere, no 4
        characters of a pattern at a line's start or at any (MIN_RUN - 3)-th place of the text,
        which every shared run of MIN_RUN touches). False when there are short secrets or
        patterns of 4-6 characters, whose line-end beginnings must be looked at line by line.
        Only the stretches of text made of the patterns' characters are sampled."""
        if self._tiny or self._short is not None or self._any_head is None or self._stretch is None:
            return False
        text = "\n".join(lines)
        if self._any_head.search(text):
            return False
        grams = self._grams
        if any(x[:MIN_PIECE] in grams or x.strip()[:MIN_PIECE] in grams for x in lines):
            return False
        step = MIN_RUN - MIN_PIECE + 1  # a shared run lies in a stretch and holds one of these places
        for m in self._stretch.finditer(text):
            a, e = m.span()
            if any(text[i : i + MIN_PIECE] in grams for i in range(a, e - MIN_PIECE + 1, step)):
                return False
        return True

    def _starts(self, line: str, spans: list[tuple[int, int]], due: list[tuple[str, int]]) -> None:
        """A line of a stream: its start ending a pattern (4 characters or more of it, or what the
        line before left `due`), and the whole line being a middle part of one."""
        for p, r in due:
            if line.startswith(p[len(p) - r :]):
                spans.append((0, r))
        if len(line) >= MIN_PIECE:
            for p, j in self._grams.get(line[:MIN_PIECE], ()):
                if j and line.startswith(p[j:]):
                    spans.append((0, len(p) - j))
        stripped = line.strip()
        if len(stripped) >= MIN_MIDDLE:
            for p, j in self._grams.get(stripped[:MIN_PIECE], ()):
                if len(stripped) < len(p) and p.startswith(stripped, j):
                    start = line.index(stripped)
                    spans.append((start, start + len(stripped)))


class LineMasker:
    """Masks one node's output, line by line; remembers what the previous line left of a secret (in
    memory only) to mask the rest when a line break split it."""

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._due: list[tuple[str, int]] = []

    def mask_lines(self, lines: list[str]) -> list[str]:
        """`mask_line` of each line in turn; a batch in which no secret can be (most output) is
        checked at once and passed on as it is."""
        if self._masker._heads is not None and not self._due and self._masker._quiet(lines):
            return lines
        return [self.mask_line(line) for line in lines]

    def mask_line(self, line: str) -> str:
        m = self._masker
        if m._heads is None:
            return m.mask(line)
        spans: list[tuple[int, int]] = []
        m._starts(line, spans, self._due)
        self._due = []
        m._scan(line, spans, self._due)
        return _apply(line, spans)


def _apply(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each union of overlapping or touching spans replaced by one `***`."""
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    pos = 0
    start, end = spans[0]
    for s, e in spans[1:]:
        if s <= end:
            end = max(end, e)
            continue
        out += (text[pos:start], MASK)
        pos = end
        start, end = s, e
    out += (text[pos:start], MASK, text[end:])
    return "".join(out)
