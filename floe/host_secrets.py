"""Reading the secrets a host config names (at host start), and masking them in the host's own log."""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from floe.config.secrets import SecretRef
from floe.model.mask import MIN_PIECE, Masker

log = logging.getLogger(__name__)


class SecretError(Exception):
    """A secret the config names cannot be read; the message names each one and its source."""


def resolve_secrets(
    refs: Mapping[str, SecretRef], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The value of every secret: an environment variable's value, or a file's content without its
    trailing line break(s). A missing or empty one is a SecretError listing every such secret.
    A secret shorter than 4 characters is logged (by name) as masked only as a whole word."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    problems: list[str] = []
    for name, ref in refs.items():
        if ref.kind == "env":
            value = env.get(ref.source)
            if value is None:
                problems.append(f"secret {name}: environment variable {ref.source} is not set")
                continue
        else:
            try:
                value = Path(ref.source).read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError, ValueError) as e:
                why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
                problems.append(f"secret {name}: cannot read file {ref.source}: {why}")
                continue
        if not value.strip():
            problems.append(f"secret {name}: {ref.describe()} is empty")
            continue
        if len(value.strip()) < MIN_PIECE:
            log.warning(
                "secret %s is shorter than %d characters: it is masked only as a whole word", name, MIN_PIECE
            )
        values[name] = value
    if problems:
        raise SecretError("\n".join(problems))
    return values


def mask_logging(masker: Masker) -> Callable[[], None]:
    """Mask secrets in every log record made from now on in this process (any logger, any handler):
    the message, and the text of an exception or stack attached to it. Returns the undo."""
    if not masker:
        return lambda: None
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep both parts, masked, rather than fail later
            message = f"{record.msg} % {record.args!r}"
        record.msg, record.args = masker.mask(message), None
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = masker.mask(text)
        if record.stack_info:
            record.stack_info = masker.mask(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)

    def undo() -> None:
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)

    return undo
