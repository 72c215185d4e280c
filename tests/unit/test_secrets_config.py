"""`common.secrets`: parsing (FILE:LINE errors), `${secret:NAME}` checks at load, resolution, expansion."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from floe.config import ConfigError, parse_config
from floe.config.secrets import SecretRef
from floe.host_secrets import SecretError, resolve_secrets
from floe.model.opts import OptError, build_env, expand_value

WS = "/ws"


def config(secrets: str, env: str = "[]", task_env: str = "[]", trigger_env: str = "[]") -> str:
    """A host config; `secrets` is the YAML of `common.secrets` (its first line is line 3)."""
    return f"""\
common:
  secrets:
{secrets}
flows:
  - id: f
    env: {env}
    triggers:
      - name: start
        type: data
        opts: {{env: {trigger_env}}}
    tasks:
      - name: build
        type: exec
        listen: trigger.good
        opts:
          cmd: ls
          env: {task_env}
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yml")
    return [str(p) for p in err.value.errors]


def test_secrets_parse() -> None:
    cfg = parse_config(
        config(
            "    DEPLOY_TOKEN: {env: FLOE_DEPLOY_TOKEN}\n"
            "    SSH_KEY: {file: /etc/floe/ssh_key}\n"
            "    _home: {file: ~/key}",
            env='["TOKEN=${secret:DEPLOY_TOKEN}"]',
            task_env='["KEY=${secret:SSH_KEY}", "B=${secret:_home}x"]',
        ),
        "c.yml",
    )
    assert dict(cfg.common.secrets) == {
        "DEPLOY_TOKEN": SecretRef("DEPLOY_TOKEN", "env", "FLOE_DEPLOY_TOKEN"),
        "SSH_KEY": SecretRef("SSH_KEY", "file", "/etc/floe/ssh_key"),
        "_home": SecretRef("_home", "file", os.path.expanduser("~") + "/key"),
    }
    assert cfg.warnings == ()
    (flow,) = cfg.flows
    assert flow.env == ("TOKEN=${secret:DEPLOY_TOKEN}",)  # the reference, never a value
    assert flow.tasks[0].opts["env"] == ["KEY=${secret:SSH_KEY}", "B=${secret:_home}x"]


def test_no_secrets_section() -> None:
    cfg = parse_config("flows: []\n", "c.yml")
    assert dict(cfg.common.secrets) == {}


@pytest.mark.parametrize(
    ("secrets", "want"),
    [
        ("    A: FLOE_A", "c.yml:3: common.secrets.A: must be {env: VARIABLE} or {file: PATH}, not a string"),
        ("    A: [x]", "c.yml:3: common.secrets.A: must be {env: VARIABLE} or {file: PATH}, not a list"),
        ("    A: {}", "c.yml:3: common.secrets.A: must be {env: VARIABLE} or {file: PATH} (exactly one"),
        ("    A: {env: X, file: /y}", "c.yml:3: common.secrets.A: must be {env: VARIABLE} or {file: PATH} ("),
        ("    A: {env: X, path: /y}", "c.yml:3: common.secrets.A.path: unknown key in a secret"),
        ("    A: {env: }", "c.yml:3: common.secrets.A.env: must not be empty"),
        ("    A: {env: 12}", "c.yml:3: common.secrets.A.env: must be a string, not an integer"),
        ("    A: {env: 'X=Y'}", "c.yml:3: common.secrets.A.env: 'X=Y' is not an environment variable name"),
        ("    A: {file: ''}", "c.yml:3: common.secrets.A.file: '' is not a file path"),
        ("    ok: {env: X}\n    bad-name: {env: Y}", "c.yml:4: common.secrets.bad-name: a secret name must"),
        ("    1A: {env: Y}", "c.yml:3: common.secrets.1A: a secret name must match"),
        ("    - {env: Y}", "c.yml:2: common.secrets: must be a mapping, not a list"),
    ],
)
def test_bad_shapes_name_file_line_and_key(secrets: str, want: str) -> None:
    found = errors(config(secrets))
    assert len(found) == 1, found
    assert found[0].startswith(want), found


def test_unknown_secret_in_env_is_a_load_error() -> None:
    found = errors(
        config(
            "    A: {env: FLOE_A}",
            env='["X=${secret:A}", "Y=${secret:NOPE}"]',
            task_env='[Z=ok, "W=pre-${secret:TASKY}"]',
            trigger_env='["T=${secret:TRIG}"]',
        )
    )
    assert found == [
        "c.yml:6: flows[0].env[1]: unknown secret 'NOPE' (common.secrets defines A)",
        "c.yml:10: flows[0].triggers[0].opts.env[0]: unknown secret 'TRIG' (common.secrets defines A)",
        "c.yml:17: flows[0].tasks[0].opts.env[1]: unknown secret 'TASKY' (common.secrets defines A)",
    ]


def test_secret_reference_without_a_secrets_section() -> None:
    text = "flows:\n  - id: f\n    env:\n      - A=${secret:TOKEN}\n"
    assert errors(text) == ["c.yml:4: flows[0].env[0]: unknown secret 'TOKEN' (common.secrets defines none)"]


def test_secret_reference_in_cmd_is_a_warning() -> None:
    text = config("    A: {env: FLOE_A}").replace("cmd: ls", "cmd: deploy ${secret:A}")
    cfg = parse_config(text, "c.yml")
    (warning,) = cfg.warnings
    assert str(warning).startswith(
        "c.yml:16: warning: flows[0].tasks[0].opts.cmd: ${secret:NAME} is expanded"
    )


# ---- resolution (at host start) ---------------------------------------------------------------


def test_resolve_from_env_and_file(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("line one\nline two\n\n")
    refs = {"A": SecretRef("A", "env", "FLOE_A"), "K": SecretRef("K", "file", str(key))}
    assert resolve_secrets(refs, {"FLOE_A": " tok en "}) == {"A": " tok en ", "K": "line one\nline two"}


def test_resolve_names_every_missing_secret_and_its_source(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    refs = {
        "A": SecretRef("A", "env", "FLOE_A"),
        "B": SecretRef("B", "env", "FLOE_B"),
        "K": SecretRef("K", "file", str(tmp_path / "missing")),
        "E": SecretRef("E", "file", str(tmp_path / "empty")),
    }
    with pytest.raises(SecretError) as err:
        resolve_secrets(refs, {"FLOE_B": ""})
    assert str(err.value).splitlines() == [
        "secret A: environment variable FLOE_A is not set",
        "secret B: environment variable FLOE_B is empty",
        f"secret K: cannot read file {tmp_path / 'missing'}: No such file or directory",
        f"secret E: file {tmp_path / 'empty'} is empty",
    ]


def test_short_secret_is_logged_by_name(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="floe.host_secrets"):
        assert resolve_secrets({"PIN": SecretRef("PIN", "env", "P")}, {"P": "123"}) == {"PIN": "123"}
    assert "secret PIN is shorter than 4 characters" in caplog.text and "123" not in caplog.text


# ---- expansion (when a process environment is built) -------------------------------------------


def test_build_env_expands_secrets() -> None:
    env = build_env(
        {"HOME": "/h"},
        ["TOKEN=${secret:T}", "BOTH=$HOME:${secret:T}"],
        ["AUTH=Bearer ${secret:T}", "RAW=${secret:D}"],
        WS,
        {"T": "s3cr3t", "D": "$HOME ${secret:T} {{ws}}"},
    )
    assert env["TOKEN"] == "s3cr3t"
    assert env["BOTH"] == "/h:s3cr3t"
    assert env["AUTH"] == "Bearer s3cr3t"
    assert env["RAW"] == "$HOME ${secret:T} {{ws}}"  # a value is never expanded again


@pytest.mark.parametrize("secrets", [None, {}, {"OTHER": "x"}])
def test_unknown_secret_at_run_time(secrets: dict[str, str] | None) -> None:
    with pytest.raises(OptError, match="unknown secret NOPE"):
        build_env({}, [], ["A=${secret:NOPE}"], WS, secrets)


def test_expand_value_without_secrets_leaves_the_reference() -> None:
    assert expand_value("x ${secret:T} $A", WS, {"A": "a"}) == "x ${secret:T} a"
