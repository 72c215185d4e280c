"""Config problems (errors and warnings with file, line and key) and the ConfigError that lists them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from floe.model.errors import Unprocessable

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault of a config file; `str()` is `FILE:LINE: key: message` (warnings say `warning:`),
    or `FILE:LINE:COLUMN: message` for a YAML syntax error, whose `text` is the offending line."""

    file: str
    line: int  # 1-based, 0 when unknown
    key: str
    message: str
    severity: Severity = "error"
    column: int = 0  # 1-based, 0 when unknown
    text: str = ""  # the source line, for syntax errors

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        if self.line > 0 and self.column > 0:
            where += f":{self.column}"
        mark = "warning: " if self.severity == "warning" else ""
        what = f"{self.key}: {self.message}" if self.key else self.message
        return f"{where}: {mark}{what}"

    def shown(self) -> str:
        """`str()`, then the offending line with a caret under the column when it is known."""
        if not self.text:
            return str(self)
        gutter = f"{self.line:>5} | "
        shown = f"{self}\n{gutter}{self.text}"
        if not 0 < self.column <= len(self.text) + 1:  # no column, or past the part shown
            return shown
        caret = "".join(c if c == "\t" else " " for c in self.text[: self.column - 1])
        return f"{shown}\n{' ' * (len(gutter) - 2)}| {caret}^"


class ConfigError(ValueError):
    """A config could not be loaded; `problems` holds every error found (and the warnings beside them)."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid config")

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.is_error)


class Report:
    """Collects the problems of one source file while it is checked."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def error(self, line: int, key: str, message: str, *, column: int = 0, text: str = "") -> None:
        self.problems.append(Problem(self.source, line, key, message, "error", column, text))

    def warn(self, line: int, key: str, message: str) -> None:
        self.problems.append(Problem(self.source, line, key, message, "warning"))

    @property
    def failed(self) -> bool:
        return any(p.is_error for p in self.problems)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(sorted((p for p in self.problems if not p.is_error), key=lambda p: p.line))

    def raise_if_failed(self) -> None:
        if self.failed:
            raise ConfigError(sorted(self.problems, key=lambda p: (p.line, p.severity != "error")))


class FlowFileError(Unprocessable):
    """A flow-file could not be read or is not a valid flow: the trigger starts nothing."""
