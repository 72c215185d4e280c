"""Task outputs written as `key=value` lines to the file named by `$FLOE_OUTPUT` (GitHub Actions' form)."""

from __future__ import annotations

import functools
import itertools
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

OUTPUT_VAR = "FLOE_OUTPUT"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
MAX_BYTES = 1024 * 1024
_numbers = itertools.count(1)  # the names of output files in this process's directory


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


@functools.cache
def _outputs_dir() -> tempfile.TemporaryDirectory[str]:
    """This process's private directory (0700) of output files, removed when the process exits."""
    return tempfile.TemporaryDirectory(prefix="floe-outputs-")


@contextmanager
def output_file(warn: Callable[[str], None]) -> Iterator[tuple[Path, Callable[[], dict[str, str]]]]:
    """A fresh name, in a directory only this user can enter, for a task to write its outputs to
    (`>>` makes the file: making it for every task was a tenth of the loop's time in a chain of
    exec tasks), and a reader of what it wrote."""
    path = Path(_outputs_dir().name, str(next(_numbers)))

    def read() -> dict[str, str]:
        try:
            with path.open("rb") as f:
                data = f.read(MAX_BYTES + 1)
        except FileNotFoundError:  # the task wrote no outputs
            return {}
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
