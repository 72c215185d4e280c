"""Host config loading: every key typed, unknown keys and wrong types as errors with file, line and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from floe.config import ConfigError, HostConfig, Problem, load_config, parse_config
from floe.model.flow import FormField, NodeClass

BASE = """\
flows:
  - id: f
    triggers:
      - name: start
        type: data
    tasks:
      - name: build
        type: exec
        listen: trigger.good
        opts: {cmd: ls}
"""


def with_task_lines(*lines: str) -> str:
    """BASE with extra keys on the build task: the first one is on line 11."""
    return BASE + "".join(f"        {line}\n" for line in lines)


def problems(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yml")
    return [(p.line, p.key, p.message) for p in err.value.errors]


def one_error(text: str) -> Problem:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yml")
    assert len(err.value.errors) == 1, str(err.value)
    return err.value.errors[0]


def test_base_loads_clean() -> None:
    cfg = parse_config(BASE, "c.yml")
    assert isinstance(cfg, HostConfig)
    assert cfg.warnings == ()
    (flow,) = cfg.flows
    assert flow.source == "c.yml" and flow.line == 2
    (task,) = flow.tasks
    assert (task.cls, task.type, task.listen, task.good, task.line) == (
        NodeClass.TASK,
        "exec",
        "trigger.good",
        (0,),
        7,
    )
    assert dict(task.opts) == {"cmd": "ls"}
    assert type(task.opts) is dict


UNKNOWN_KEYS = [
    ("common", "common:\n  colour: blue\n" + BASE, 2, "common.colour"),
    ("top level", "colour: blue\n" + BASE, 1, "colour"),
    ("flow", BASE.replace("  - id: f\n", "  - id: f\n    subs: [x]\n"), 3, "flows[0].subs"),
    ("node", with_task_lines("lisen: x"), 11, "flows[0].tasks[0].lisen"),
    (
        "trigger",
        BASE.replace("        type: data\n", "        type: data\n        colour: red\n"),
        6,
        "flows[0].triggers[0].colour",
    ),
]


@pytest.mark.parametrize(("where", "text", "line", "key"), UNKNOWN_KEYS, ids=[c[0] for c in UNKNOWN_KEYS])
def test_unknown_key_is_an_error_with_line(where: str, text: str, line: int, key: str) -> None:
    p = one_error(text)
    assert (p.file, p.line, p.key) == ("c.yml", line, key)
    assert "unknown key" in p.message
    assert str(p) == f"c.yml:{line}: {key}: {p.message}"


def test_unknown_key_suggests_the_close_one() -> None:
    assert "did you mean 'listen'" in one_error(with_task_lines("lisen: x")).message


WRONG_TYPES = [
    (
        "ver",
        BASE.replace("  - id: f\n", "  - id: f\n    ver: one\n"),
        3,
        "flows[0].ver",
        "must be an integer",
    ),
    (
        "reuse-space",
        BASE.replace("  - id: f\n", "  - id: f\n    reuse-space: yes please\n"),
        3,
        "flows[0].reuse-space",
        "true or false",
    ),
    (
        "host-tags",
        BASE.replace("  - id: f\n", "  - id: f\n    host-tags: linux\n"),
        3,
        "flows[0].host-tags",
        "list of strings",
    ),
    (
        "env item",
        BASE.replace("  - id: f\n", "  - id: f\n    env: [A=1, 2]\n"),
        3,
        "flows[0].env[1]",
        "must be a string",
    ),
    ("env entry", BASE.replace("  - id: f\n", "  - id: f\n    env: [A]\n"), 3, "flows[0].env", "KEY=value"),
    (
        "triggers",
        BASE.replace("    triggers:\n      - name: start\n        type: data\n", "    triggers: 3\n\n\n"),
        3,
        "flows[0].triggers",
        "must be a list",
    ),
    (
        "listen",
        with_task_lines("").replace("listen: trigger.good", "listen: [a]"),
        9,
        "flows[0].tasks[0].listen",
        "must be a string",
    ),
    ("good", with_task_lines("good: 0"), 11, "flows[0].tasks[0].good", "list of integer"),
    ("good items", with_task_lines("good: [0, x]"), 11, "flows[0].tasks[0].good", "list of integer"),
    ("ignore-fail", with_task_lines("ignore-fail: 1"), 11, "flows[0].tasks[0].ignore-fail", "true or false"),
    (
        "use-status",
        with_task_lines("use-status: 'true'"),
        11,
        "flows[0].tasks[0].use-status",
        "true or false",
    ),
    ("timeout", with_task_lines("timeout: soon"), 11, "flows[0].tasks[0].timeout", "number of seconds"),
    ("timeout zero", with_task_lines("timeout: 0"), 11, "flows[0].tasks[0].timeout", "more than 0"),
    ("retries", with_task_lines("retries: 1.5"), 11, "flows[0].tasks[0].retries", "must be an integer"),
    ("retries negative", with_task_lines("retries: -1"), 11, "flows[0].tasks[0].retries", "at least 0"),
    ("backoff", with_task_lines("backoff: 2x"), 11, "flows[0].tasks[0].backoff", "duration"),
    (
        "opts",
        BASE.replace("opts: {cmd: ls}", "opts: [cmd]"),
        10,
        "flows[0].tasks[0].opts",
        "must be a mapping",
    ),
    (
        "node",
        BASE.replace("      - name: build\n", "      - just a string\n      - name: build\n"),
        7,
        "flows[0].tasks[0]",
        "must be a mapping",
    ),
    ("common hosts", "common:\n  hosts: http://a:8080\n" + BASE, 2, "common.hosts", "list of strings"),
    ("common base-url", "common:\n  base-url: 8080\n" + BASE, 2, "common.base-url", "must be a string"),
]


@pytest.mark.parametrize(
    ("what", "text", "line", "key", "fragment"), WRONG_TYPES, ids=[c[0] for c in WRONG_TYPES]
)
def test_wrong_type_is_an_error_with_line(what: str, text: str, line: int, key: str, fragment: str) -> None:
    p = one_error(text)
    assert (p.line, p.key) == (line, key)
    assert fragment in p.message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2", 2.0), ("1.5", 1.5), ("'2s'", 2.0), ("'500ms'", 0.5), ("'1m'", 60.0), ("'1h'", 3600.0)],
)
def test_timeout_and_backoff_accept_seconds_and_durations(value: str, seconds: float) -> None:
    (task,) = (
        parse_config(with_task_lines(f"timeout: {value}", f"backoff: {value}", "retries: 3"), "c")
        .flows[0]
        .tasks
    )
    assert (task.timeout, task.backoff, task.retries) == (seconds, seconds, 3)


def test_all_problems_are_collected_and_listed_one_per_line() -> None:
    text = "common:\n  colour: blue\n" + with_task_lines("lisen: x", "retries: many")
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yml")
    lines = str(err.value).splitlines()
    assert lines == [
        "c.yml:2: common.colour: unknown key in common",
        "c.yml:13: flows[0].tasks[0].lisen: unknown key in a task (did you mean 'listen'?)",
        "c.yml:14: flows[0].tasks[0].retries: must be an integer, not a string",
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("flows:\n  - id: f\n    tasks: [a, b\n", 4),
        ("flows:\n  - id: f\n  id: g\n", 3),
        ("common:\n  hosts: [a]\ncommon:\n  hosts: [b]\n", 3),
        ("flows:\n\t- id: f\n", 2),
        ("a: b: c\n", 1),
    ],
)
def test_bad_yaml_syntax_names_the_line(text: str, line: int) -> None:
    p = one_error(text)
    assert p.line == line
    assert p.message.startswith("bad YAML")


def test_not_utf8_is_a_config_error() -> None:
    assert "not valid UTF-8" in one_error(b"flows: \xff\xfe\n").message  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- a\n- b\n", "must be a mapping"),
        ("42\n", "must be a mapping"),
        ("id: x\ntasks: []\n", "flow-file document"),
    ],
)
def test_wrong_kind_of_document(text: str, fragment: str) -> None:
    assert fragment in one_error(text).message


NODE_RULES = [
    (
        "task needs listen",
        with_task_lines().replace("        listen: trigger.good\n", ""),
        7,
        "flows[0].tasks[0].listen",
        "needs listen",
    ),
    ("task has no wait", with_task_lines("wait: [trigger.good]"), 11, "flows[0].tasks[0].wait", "not wait"),
    (
        "task needs type",
        BASE.replace("        type: exec\n", ""),
        7,
        "flows[0].tasks[0].type",
        "needs a type",
    ),
    (
        "unknown task type",
        BASE.replace("type: exec", "type: shell"),
        8,
        "flows[0].tasks[0].type",
        "not one of",
    ),
    (
        "trigger type on task",
        BASE.replace("type: exec", "type: poll-git"),
        8,
        "flows[0].tasks[0].type",
        "not one of",
    ),
    (
        "unknown trigger type",
        BASE.replace("type: data", "type: cron"),
        5,
        "flows[0].triggers[0].type",
        "not one of",
    ),
    (
        "trigger needs type",
        BASE.replace("        type: data\n", ""),
        4,
        "flows[0].triggers[0].type",
        "needs a type",
    ),
    (
        "bad class",
        with_task_lines("class: trigger"),
        11,
        "flows[0].tasks[0].class",
        "not allowed under tasks",
    ),
    (
        "trigger class",
        BASE.replace("        type: data\n", "        type: data\n        class: task\n"),
        6,
        "flows[0].triggers[0].class",
        "not allowed under triggers",
    ),
]


@pytest.mark.parametrize(
    ("what", "text", "line", "key", "fragment"), NODE_RULES, ids=[c[0] for c in NODE_RULES]
)
def test_node_rules(what: str, text: str, line: int, key: str, fragment: str) -> None:
    p = one_error(text)
    assert (p.line, p.key) == (line, key)
    assert fragment in p.message


MERGE = """\
flows:
  - id: f
    triggers: [{name: start, type: data}]
    tasks:
      - {name: a, type: exec, listen: trigger.good, opts: {cmd: ls}}
      - name: m
        class: merge
"""


def test_merge_defaults_and_rules() -> None:
    flow = parse_config(MERGE + "        wait: [task.a.good]\n", "c").flows[0]
    merge = flow.tasks[1]
    assert (merge.cls, merge.type, merge.wait, merge.listen) == (NodeClass.MERGE, "all", ("task.a.good",), "")
    assert problems(MERGE) == [(6, "flows[0].tasks[1].wait", "a merge needs a non-empty wait list")]
    assert problems(MERGE + "        wait: []\n") == [
        (8, "flows[0].tasks[1].wait", "a merge needs a non-empty wait list")
    ]
    assert problems(MERGE + "        wait: [task.a.good]\n        listen: task.a.good\n") == [
        (9, "flows[0].tasks[1].listen", "a merge has wait, not listen")
    ]
    assert problems(MERGE + "        wait: [task.a.good]\n        type: some\n")[0][:2] == (
        9,
        "flows[0].tasks[1].type",
    )


def test_merge_with_a_repeated_wait_tag_warns_and_dedups() -> None:
    cfg = parse_config(MERGE + "        type: any\n        wait: [task.a.good, task.a.good]\n", "c")
    assert cfg.flows[0].tasks[1].wait == ("task.a.good",)
    assert cfg.flows[0].tasks[1].type == "any"
    assert [w.key for w in cfg.warnings] == ["flows[0].tasks[1].wait"]


def test_task_only_keys_on_a_trigger_warn() -> None:
    text = BASE.replace("        type: data\n", "        type: data\n        good: [0]\n")
    (w,) = parse_config(text, "c").warnings
    assert (w.line, w.key, w.severity) == (6, "flows[0].triggers[0].good", "warning")
    assert str(w) == "c:6: warning: flows[0].triggers[0].good: has no effect on a trigger, ignored"


def test_git_push_is_an_alias_of_webhook() -> None:
    cfg = parse_config(
        BASE.replace("type: data", "type: git-push\n        opts: {url: x, branches: main}"), "c"
    )
    assert cfg.flows[0].triggers[0].type == "webhook"


def test_good_list_and_flags() -> None:
    (task,) = (
        parse_config(with_task_lines("good: [0, 2]", "ignore-fail: true", "use-status: true"), "c")
        .flows[0]
        .tasks
    )
    assert (task.good, task.ignore_fail, task.use_status) == ((0, 2), True, True)
    (task,) = parse_config(with_task_lines("good: []"), "c").flows[0].tasks
    assert task.good == (0,)


def test_flow_keys() -> None:
    text = BASE.replace(
        "  - id: f\n",
        "  - id: f\n    name: Eff\n    ver: 3\n    reuse-space: true\n    host-tags: [linux]\n"
        "    resource-tags: [db]\n    env: [A=1, 'PATH=./go/bin:$PATH']\n    flow-file: x.yml\n",
    )
    flow = parse_config(text, "c").flows[0]
    assert (flow.id, flow.name, flow.ver, flow.reuse_space) == ("f", "Eff", 3, True)
    assert (flow.host_tags, flow.resource_tags, flow.flow_file) == (("linux",), ("db",), "x.yml")
    assert flow.env == ("A=1", "PATH=./go/bin:$PATH")  # kept verbatim: expansion happens at run time


def test_null_values_count_as_absent() -> None:
    cfg = parse_config(BASE.replace("  - id: f\n", "  - id: f\n    name:\n    env:\n"), "c")
    assert (cfg.flows[0].name, cfg.flows[0].env) == ("f", ())


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n  # and another\n", "---\n", "\ufeff"])
def test_an_empty_file_is_an_error(text: str) -> None:
    p = one_error(text)
    assert (p.line, p.key) == (1, "")
    assert p.message == "file is empty: expected a host config (common/flows) or a flow-file document"


def test_a_host_config_without_flows_is_valid() -> None:
    assert parse_config("flows: []\n", "c").flows == ()
    assert parse_config("common:\n  store-type: memory\n", "c").flows == ()


def test_host_config_flow_lookup_picks_highest_or_exact_version() -> None:
    flows = "".join(
        f"  - id: f\n    ver: {v}\n    triggers: [{{name: s, type: data}}]\n"
        f"    tasks: [{{name: e, type: end, listen: trigger.good}}]\n"
        for v in (2, 5, 1)
    )
    cfg = parse_config("flows:\n" + flows, "c")
    assert cfg.flow("f") is not None and cfg.flow("f").ver == 5  # type: ignore[union-attr]
    assert cfg.flow("f", 0).ver == 5  # type: ignore[union-attr]
    assert cfg.flow("f", 1).ver == 1  # type: ignore[union-attr]
    assert cfg.flow("f", 3) is None
    assert cfg.flow("g") is None


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "floe.yml"
    path.write_text(BASE)
    cfg = load_config(path)
    assert cfg.source == str(path) and cfg.flows[0].source == str(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config("nul\0path")


COMMON = [
    ("", {"base_url": "/build/api", "store_type": "local", "hosts": ()}),
    ("  base-url: /api/\n", {"base_url": "/api"}),
    ("  hosts: [http://a:8080/, https://b]\n", {"hosts": ("http://a:8080", "https://b")}),
    ("  store-type: memory\n", {"store_type": "memory"}),
    ("  store-type: ''\n", {"store_type": "local"}),
    (
        "  store-type: s3\n  s3-bucket: bk\n  s3-prefix: p/\n  s3-endpoint: http://m:9\n  s3-region: eu\n",
        {
            "store_type": "s3",
            "s3_bucket": "bk",
            "s3_prefix": "p/",
            "s3_endpoint": "http://m:9",
            "s3_region": "eu",
        },
    ),
    ("  git-key: /k/id_rsa\n", {"git_key": "/k/id_rsa"}),
    ("  workspace-root: /srv/floe\n", {"workspace_root": "/srv/floe", "store_root": "/srv/floe"}),
    (
        "  workspace-root: /srv/ws\n  store-root: /srv/st\n",
        {"workspace_root": "/srv/ws", "store_root": "/srv/st"},
    ),
    ("", {"max_body": 1 << 20, "allowed_origins": ()}),
    ("  max-runs: 4\n", {"max_runs": 4}),
    ("  max-runs: 0\n", {"max_runs": 0}),
    ("", {"lease": 10.0}),
    ("  lease: 4\n", {"lease": 4.0}),
    ('  lease: "2500ms"\n', {"lease": 2.5}),
    ("", {"store_timeout": 5.0}),
    ('  store-timeout: "1500ms"\n', {"store_timeout": 1.5}),
    ("", {"s3_timeout": 2.0}),
    ("  s3-timeout: 0.5\n", {"s3_timeout": 0.5}),
    (
        "  max-body: 65536\n  allowed-origins: [https://ci.example.com/, http://10.0.0.1:8080]\n",
        {"max_body": 65536, "allowed_origins": ("https://ci.example.com", "http://10.0.0.1:8080")},
    ),
]


@pytest.mark.parametrize(("lines", "want"), COMMON)
def test_common(lines: str, want: dict[str, object]) -> None:
    common = parse_config("common:\n" + lines + BASE if lines else BASE, "c").common
    for key, value in want.items():
        assert getattr(common, key) == value, key


def test_common_paths_expand_home_and_tmp_without_creating_anything() -> None:
    home = os.path.expanduser("~")
    assert parse_config(BASE, "c").common.workspace_root == home + "/.floe"
    assert parse_config("common:\n  workspace-root: ~/ws\n" + BASE, "c").common.workspace_root == home + "/ws"
    one = parse_config("common:\n  workspace-root: '%tmp'\n" + BASE, "c").common
    two = parse_config("common:\n  workspace-root: '%tmp/x'\n" + BASE, "c").common
    assert one.workspace_root != two.workspace_root
    assert one.store_root == one.workspace_root
    assert two.workspace_root.endswith("/x")
    assert not os.path.exists(one.workspace_root)
    assert not os.path.exists(os.path.dirname(two.workspace_root))


@pytest.mark.parametrize(
    ("lines", "key", "fragment"),
    [
        ("  workspace-root: '~'\n", "common.workspace-root", "home directory"),
        ("  workspace-root: '~/'\n", "common.workspace-root", "home directory"),
        ("  workspace-root: /\n", "common.workspace-root", "too short"),
        ("  store-root: a\n", "common.store-root", "too short"),
        ("  store-type: ec2\n", "common.store-type", "not one of"),
        ("  store-type: s3\n", "common.store-type", "needs s3-bucket"),
        ("  hosts: [ftp://x]\n", "common.hosts", "http://"),
        ("  base-url: api\n", "common.base-url", "must start with /"),
        ("  max-body: 100\n", "common.max-body", "at least 1024"),
        ("  max-body: 1MB\n", "common.max-body", "must be an integer"),
        ("  max-runs: -1\n", "common.max-runs", "at least 0"),
        ("  max-runs: lots\n", "common.max-runs", "must be an integer"),
        ("  lease: 0.5\n", "common.lease", "at least 1s"),
        ("  lease: 0\n", "common.lease", "more than 0"),
        ("  lease: soon\n", "common.lease", "a number of seconds"),
        ("  store-timeout: 0\n", "common.store-timeout", "more than 0"),
        ("  s3-timeout: -1\n", "common.s3-timeout", "more than 0"),
        ("  allowed-origins: [ci.example.com]\n", "common.allowed-origins", "must be an origin"),
        ("  allowed-origins: [https://ci.example.com/app]\n", "common.allowed-origins", "must be an origin"),
    ],
)
def test_common_rejects(lines: str, key: str, fragment: str) -> None:
    p = one_error("common:\n" + lines + BASE)
    assert (p.line, p.key) == (2, key)
    assert fragment in p.message


def test_data_form_fields_are_parsed() -> None:
    text = BASE.replace(
        "        type: data\n",
        """\
        type: data
        opts:
          form:
            title: Start
            fields:
              - {id: ref, prompt: Ref, type: text, value: master}
              - {id: n, type: int, required: true, default: '3'}
              - {id: ok, type: bool}
              - {id: env, type: choice, options: [dev, prod], default: dev}
              - {id: tag, regex: 'v[0-9]+'}
""",
    )
    trigger = parse_config(text, "c").flows[0].triggers[0]
    assert trigger.fields == (
        FormField("ref", "Ref", "string", default="master"),
        FormField("n", "", "int", required=True, default=3),
        FormField("ok", "", "bool"),
        FormField("env", "", "choice", options=("dev", "prod"), default="dev"),
        FormField("tag", "", "string", regex="v[0-9]+"),
    )
    assert trigger.opts["form"]["title"] == "Start"  # opts travel on unchanged


FIELD_FAULTS = [
    ("{prompt: x}", "error", "needs an id"),
    ("{id: a, type: number}", "error", "not one of"),
    ("{id: a, type: choice}", "error", "non-empty options"),
    ("{id: a, type: choice, options: [x], default: y}", "error", "must be one of"),
    ("{id: a, regex: '[a'}", "error", "bad regular expression"),
    ("{id: a, type: int, value: abc}", "error", "must be an integer"),
    ("{id: a, required: maybe}", "error", "true or false"),
    ("{id: a, colour: red}", "warning", "unknown key in a form field"),
    ("{id: a, type: int, regex: x}", "warning", "only to string fields"),
    ("{id: a, default: x, value: y}", "warning", "default is used"),
]


@pytest.mark.parametrize(("field", "severity", "fragment"), FIELD_FAULTS)
def test_form_field_faults(field: str, severity: str, fragment: str) -> None:
    text = BASE.replace(
        "        type: data\n",
        f"        type: data\n        opts:\n          form:\n            fields:\n              - {field}\n",
    )
    if severity == "error":
        p = one_error(text)
    else:
        (p,) = parse_config(text, "c").warnings
    assert p.line == 9 and p.key.startswith("flows[0].triggers[0].opts.form.fields[0]")
    assert fragment in p.message


def test_duplicate_field_ids() -> None:
    text = BASE.replace(
        "        type: data\n",
        "        type: data\n        opts:\n          form:\n            fields: [{id: a}, {id: a}]\n",
    )
    assert "already used" in one_error(text).message
