"""Node opts: merging, typed reads, and `{{ws}}` / `$VAR` / `${secret:NAME}` expansion of env and commands."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

WS = "{{ws}}"
WS_VAR = "FLOEWS"
VALUE_PREFIX = "FLOE_VALUE_"  # the run's data (values, upstream results) in a task's environment
_NOT_ALNUM = re.compile(r"[^A-Z0-9]")

SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_REF = re.compile(r"\$\{secret:([^}]*)\}")  # `${secret:NAME}`, expanded in env entries only

# One pass over `{{ws}}`, `${secret:NAME}`, `${NAME}` and `$NAME`, so nothing a substitution
# inserts (a secret's value, a variable's value) is expanded again.
_TOKEN = re.compile(r"\{\{ws\}\}|\$\{secret:([^}]*)\}|\$\{(\w+)\}|\$(\w+)")


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


def _substitute(
    text: str, ws: str, environ: Mapping[str, str], secrets: Mapping[str, str] | None = None
) -> str:
    """Expand `text` in one pass; `${secret:NAME}` only when `secrets` is given (else left as is)."""

    def one(m: re.Match[str]) -> str:
        secret = m.group(1)
        if secret is not None:
            if secrets is None:
                return m.group(0)
            if secret not in secrets:
                raise OptError(f"unknown secret {secret}")
            return secrets[secret]
        name = m.group(2) or m.group(3)
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


def expand_value(
    value: str, ws: str, environ: Mapping[str, str], secrets: Mapping[str, str] | None = None
) -> str:
    """Expand an env value: path rules, `{{ws}}` → ws, then `$VAR`/`${VAR}` from `environ` (missing → "")
    and, when `secrets` is given, `${secret:NAME}` (an unknown name is an OptError)."""
    return _substitute(_ws_form(value), ws, environ, secrets)


def expand_env_entry(
    entry: str, ws: str, environ: Mapping[str, str], secrets: Mapping[str, str] | None = None
) -> str:
    """Expand the value of `K=V` (split at the first `=`); an entry without `=` is expanded whole."""
    key, sep, value = entry.partition("=")
    if not sep:
        return expand_value(entry, ws, environ, secrets)
    return f"{key}={expand_value(value, ws, environ, secrets)}"


def build_env(
    host_environ: Mapping[str, str],
    flow_env: Iterable[str],
    task_env: Iterable[str],
    ws: str,
    secrets: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Host environment + flow env + task env (later entries win) + `FLOEWS`.

    Each entry is expanded against the host environment plus the entries before it, so
    `PATH=./bin:$PATH` in the flow and again in the task both extend the path. `${secret:NAME}`
    becomes the secret's value (only here, in the process environment: the entries themselves,
    in the run's state, keep the reference); a name not in `secrets` is an OptError.
    """
    env = dict(host_environ)
    known = secrets if secrets is not None else {}
    for entry in (*flow_env, *task_env):
        key, sep, _ = entry.partition("=")
        if not sep or not key:
            raise OptError(f"env entry {entry!r} is not KEY=value")
        env[key] = expand_env_entry(entry, ws, env, known).partition("=")[2]
    env[WS_VAR] = ws
    return env


def value_env(values: Mapping[str, Any]) -> dict[str, str]:
    """The run's data as environment variables, never interpreted: `FLOE_VALUE_<NAME>` with NAME
    upper-cased and every character but A-Z and 0-9 made `_` (`to-hash` → `FLOE_VALUE_TO_HASH`).
    A string is as it is, a bool `true`/`false`, a number its text, null empty, a list or object
    its JSON. Names are taken in sorted order, so of two that make one variable the later wins; a
    value holding a NUL character (no environment can) is left out."""
    env: dict[str, str] = {}
    for name in sorted(values, key=str):
        value = values[name]
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            text = json.dumps(value, sort_keys=True, default=str)
        if "\0" not in text:
            env[VALUE_PREFIX + _NOT_ALNUM.sub("_", str(name).upper())] = text
    return env


def expand_command_vars(text: str, env: Mapping[str, str]) -> str:
    """Expand `{{ws}}` (from `FLOEWS`) and `$VAR`/`${VAR}` against the task's own environment."""
    return _substitute(text, env.get(WS_VAR, ""), env)


def expand_arg(word: str, env: Mapping[str, str]) -> str:
    """An exec argument as floe expands it: a word with exactly one `=` (`K=./v`, `--out=.`) has
    its value expanded, any other word is expanded whole; the path rules of `expand_value` (`.`,
    `./x`, `{{ws}}`: the workspace, whatever `sub-dir` is), then `$VAR` from the task's own
    environment."""
    parts = word.split("=")
    if len(parts) == 2:
        return f"{parts[0]}={expand_command_vars(_ws_form(parts[1]), env)}"
    return expand_command_vars(_ws_form(word), env)


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


def opt_statuses(opts: Mapping[str, Any], key: str) -> frozenset[int]:
    """HTTP statuses (`200`) and classes (`2xx`), one or a list; 200 to 299 when absent."""
    value = opts.get(key)
    if value is None:
        return frozenset(range(200, 300))
    out: set[int] = set()
    for v in value if isinstance(value, list | tuple) else [value]:
        text = str(v).strip().lower()
        if len(text) == 3 and text.endswith("xx") and text[0] in "12345":
            base = int(text[0]) * 100
            out.update(range(base, base + 100))
        elif text.isdigit() and 100 <= int(text) <= 599:
            out.add(int(text))
        else:
            raise OptError(f"opt {key}: {v!r} is not a status (200) or a class (2xx)")
    return frozenset(out)


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
