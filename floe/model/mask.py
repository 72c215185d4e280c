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
    a longer base64 stream (at least 8 characters). Overlapping occurrences of several secrets are
    masked as one. A secret shorter than 4 characters is masked only as a whole word (not inside
    a longer word), and not in base64. Empty secrets are ignored.

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
        # longest first: the first pattern found at a place is the longest there
        self._patterns: tuple[str, ...] = tuple(sorted(patterns, key=lambda p: (-len(p), p)))
        # an output line never holds a line break: the patterns a line can hold
        self._line_patterns = tuple(p for p in self._patterns if not _LINE_BREAK.search(p))
        words = "|".join(re.escape(s) for s in sorted(short, key=len, reverse=True))
        self._short = re.compile(rf"(?<!\w)(?:{words})(?!\w)") if short else None
        self._keep = max((len(p) for p in self._line_patterns), default=1) - 1  # kept between lines

    def __bool__(self) -> bool:
        return bool(self._patterns) or self._short is not None

    def mask(self, text: str) -> str:
        """`text` with every occurrence of a secret (and of its forms above) replaced by `***`."""
        if not self or not text:
            return text
        return _apply(text, self._spans(text, self._patterns))

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

    def _spans(self, text: str, patterns: tuple[str, ...]) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for p in patterns:
            i = text.find(p)
            while i != -1:
                spans.append((i, i + len(p)))
                i = text.find(p, i + 1)
        if self._short is not None:
            spans.extend(m.span() for m in self._short.finditer(text))
        return spans

    def _edge_spans(self, line: str, prev: str) -> list[tuple[int, int]]:
        """Parts of `line` that continue or begin a secret across the line breaks around it."""
        spans: list[tuple[int, int]] = []
        n = len(line)
        stripped = line.strip()
        middle = len(stripped) >= MIN_MIDDLE
        joined = prev + line[: self._keep]
        cut = len(prev)
        for p in self._line_patterns:
            size = len(p)
            # the end of the line is the beginning of p (the longest such beginning)
            i = line.find(p[:MIN_PIECE], max(0, n - size + 1))
            while i != -1:
                if p.startswith(line[i:]):
                    spans.append((i, n))
                    break
                i = line.find(p[:MIN_PIECE], i + 1)
            # the start of the line is the end of p
            if n >= MIN_PIECE:
                j = p.find(line[:MIN_PIECE], 1)
                while j != -1:
                    if line.startswith(p[j:]):
                        spans.append((0, size - j))
                        break
                    j = p.find(line[:MIN_PIECE], j + 1)
            # p runs from the end of the previous line into this one
            if cut:
                k = joined.find(p, max(0, cut - size + 1), cut + size - 1)
                if k != -1 and k < cut:
                    spans.append((0, k + size - cut))
            # the whole line is a part of p
            if middle and len(stripped) < size and stripped in p:
                start = line.index(stripped)
                spans.append((start, start + len(stripped)))
        return spans


class LineMasker:
    """Masks one node's output, line by line; remembers the end of the previous line (in memory only)
    to mask the rest of a secret that a line break split."""

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._prev = ""

    def mask_line(self, line: str) -> str:
        m = self._masker
        if not m._line_patterns:
            return m.mask(line)
        spans = m._spans(line, m._line_patterns) + m._edge_spans(line, self._prev)
        self._prev = line[len(line) - m._keep :] if len(line) > m._keep else line
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
