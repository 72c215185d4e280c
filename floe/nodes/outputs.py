"""Task outputs written as `key=value` lines to the file named by `$FLOE_OUTPUT` (GitHub Actions' form)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

OUTPUT_VAR = "FLOE_OUTPUT"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
MAX_BYTES = 1024 * 1024


def parse(text: str, warn: Callable[[str], None]) -> dict[str, str]:
    """`key=value` lines and `key<<DELIM` ... `DELIM` blocks; a later key wins, bad lines are warned."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if "<<" in line and (not sep or "<<" in key):
            key, _, delim = line.partition("<<")
            block: list[str] = []
            for body in lines:
                if body == delim:
                    break
                block.append(body)
            else:
                warn(f"{OUTPUT_VAR} line {n}: {key}<<{delim} is never closed by {delim}")
                continue
            value, sep = "\n".join(block), "="
        if not sep or not NAME.fullmatch(key):
            warn(f"{OUTPUT_VAR} line {n}: not key=value with a name of letters, digits, _ or -")
            continue
        out[key] = value
    return out


@contextmanager
def output_file(warn: Callable[[str], None]) -> Iterator[tuple[Path, Callable[[], dict[str, str]]]]:
    """A fresh, private file for a task to write its outputs to, and a reader of what it wrote."""
    fd, name = tempfile.mkstemp(prefix="floe-output-")
    os.close(fd)
    path = Path(name)

    def read() -> dict[str, str]:
        try:
            with path.open("rb") as f:
                data = f.read(MAX_BYTES + 1)
        except OSError as exc:
            warn(f"{OUTPUT_VAR}: {exc.strerror or exc}")
            return {}
        if len(data) > MAX_BYTES:
            warn(f"{OUTPUT_VAR}: over {MAX_BYTES} bytes, no outputs kept")
            return {}
        return parse(data.decode(errors="replace"), warn)

    try:
        yield path, read
    finally:
        path.unlink(missing_ok=True)
