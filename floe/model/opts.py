"""Node opts: merging, typed reads, and floe's `{{ws}}` / `$VAR` expansion of env entries and commands."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

WS = "{{ws}}"
WS_VAR = "FLOEWS"

# One pass over `{{ws}}`, `${NAME}` and `$NAME`, so nothing a substitution inserts is expanded again.
_TOKEN = re.compile(r"\{\{ws\}\}|\$\{(\w+)\}|\$(\w+)")


class OptError(ValueError):
    """An opt has the wrong type or form; the message names the opt."""


def merge_opts(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    """Right wins per key, except two `env` lists, which are concatenated (left first)."""
    out = dict(left)
    for key, value in right.items():
        prior = out.get(key)
        if key == "env" and isinstance(prior, list | tuple) and isinstance(value, list | tuple):
            out[key] = [*prior, *value]
        else:
            out[key] = value
    return out


def _substitute(text: str, ws: str, environ: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return ws if name is None else environ.get(name, "")

    return _TOKEN.sub(one, text)


def _ws_form(value: str) -> str:
    """floe's path rules: `.` is the workspace, `./x` is `{{ws}}/x` (not `./...`), `/{{ws}}` is `{{ws}}`."""
    if value == ".":
        return WS
    if value.startswith("./") and not value.startswith("./..."):
        value = WS + "/" + value[2:]
    return value.replace("/" + WS, WS)


def expand_ws(value: str, ws: str) -> str:
    """The path rules of `expand_value` without `$VAR` expansion (for `sub-dir` and `location`)."""
    return _ws_form(value).replace(WS, ws)


def expand_value(value: str, ws: str, environ: Mapping[str, str]) -> str:
    """Expand an env value: path rules, `{{ws}}` → ws, then `$VAR`/`${VAR}` from `environ` (missing → "")."""
    return _substitute(_ws_form(value), ws, environ)


def expand_env_entry(entry: str, ws: str, environ: Mapping[str, str]) -> str:
    """Expand the value of `K=V` (split at the first `=`); an entry without `=` is expanded whole."""
    key, sep, value = entry.partition("=")
    if not sep:
        return expand_value(entry, ws, environ)
    return f"{key}={expand_value(value, ws, environ)}"


def build_env(
    host_environ: Mapping[str, str], flow_env: Iterable[str], task_env: Iterable[str], ws: str
) -> dict[str, str]:
    """Host environment + flow env + task env (later entries win) + `FLOEWS`.

    Each entry is expanded against the host environment plus the entries before it, so
    `PATH=./bin:$PATH` in the flow and again in the task both extend the path.
    """
    env = dict(host_environ)
    for entry in (*flow_env, *task_env):
        key, sep, _ = entry.partition("=")
        if not sep or not key:
            raise OptError(f"env entry {entry!r} is not KEY=value")
        env[key] = expand_env_entry(entry, ws, env).partition("=")[2]
    env[WS_VAR] = ws
    return env


def expand_command_vars(text: str, env: Mapping[str, str]) -> str:
    """Expand `{{ws}}` (from `FLOEWS`) and `$VAR`/`${VAR}` against the task's own environment."""
    return _substitute(text, env.get(WS_VAR, ""), env)


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise OptError(f"opt {key} must be a string, got {type(value).__name__}")


def opt_str(opts: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    """A string opt ("" when absent); numbers are accepted as their text."""
    value = opts.get(key)
    if value is None or value == "":
        if required:
            raise OptError(f"opt {key} is required")
        return ""
    return _scalar(key, value)


def opt_str_list(opts: Mapping[str, Any], key: str) -> list[str]:
    """A list-of-strings opt ([] when absent); a lone string is not a list."""
    value = opts.get(key)
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise OptError(f"opt {key} must be a list, got {type(value).__name__}")
    return [_scalar(key, v) for v in value]


def opt_seconds(opts: Mapping[str, Any], key: str) -> float:
    """A required non-negative number of seconds (int, float or numeric string)."""
    value = opts.get(key)
    if value is None or isinstance(value, bool):
        raise OptError(f"opt {key} must be a number of seconds")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise OptError(f"opt {key} must be a number of seconds, got {value!r}") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise OptError(f"opt {key} must be a non-negative number of seconds, got {value!r}")
    return seconds
