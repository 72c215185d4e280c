"""`store-type: postgres`: the URL key, the password rule, and the password kept from tasks and logs."""

from __future__ import annotations

import pytest

from floe.config import ConfigError
from floe.config.common import Common
from floe.config.load import parse_config
from floe.hub.credentials import masked_values, store_password, task_environ

FLOW = "flows:\n  - id: f\n    tasks:\n      - {id: a, type: end, listen: trigger.good}\n"


def config(common: str) -> Common:
    return parse_config("common:\n" + common + FLOW, "c.yml").common


def error(common: str) -> tuple[int, str, str]:
    with pytest.raises(ConfigError) as err:
        parse_config("common:\n" + common + FLOW, "c.yml")
    (problem,) = err.value.errors
    return problem.line, problem.key, problem.message


def test_the_postgres_store_reads_its_url() -> None:
    c = config("  store-type: postgres\n  store-url: postgresql://floe@127.0.0.1:5432/ci\n")
    assert (c.store_type, c.store_url) == ("postgres", "postgresql://floe@127.0.0.1:5432/ci")


@pytest.mark.parametrize(
    ("lines", "where", "fragment"),
    [
        ("  store-type: postgres\n", (2, "common.store-type"), "needs store-url"),
        ("  store-type: postgres\n  store-url: mysql://a@h/db\n", (3, "common.store-url"), "postgresql://"),
        ("  store-type: postgres\n  store-url: 'postgresql://a@h:x/db'\n", (3, "common.store-url"), "URL"),
    ],
)
def test_a_bad_store_url_is_an_error_naming_the_key(
    lines: str, where: tuple[int, str], fragment: str
) -> None:
    line, key, message = error(lines)
    assert (line, key) == where and fragment in message


@pytest.mark.parametrize(
    "url", ["postgresql://floe:hunter22@127.0.0.1/ci", "postgresql://floe@127.0.0.1/ci?password=hunter22"]
)
def test_a_password_in_the_url_is_an_error_that_does_not_repeat_it(url: str) -> None:
    line, key, message = error(f"  store-type: postgres\n  store-url: '{url}'\n")
    assert (line, key) == (3, "common.store-url")
    assert "password" in message and "FLOE_STORE_PASSWORD" in message and "hunter22" not in message


def test_the_password_comes_from_the_environment_or_a_secret_and_never_reaches_a_task() -> None:
    common = Common(store_type="postgres", store_url="postgresql://floe@127.0.0.1/ci")
    assert store_password({"FLOE_STORE_PASSWORD": "pw-env1"}, {"store_password": "pw-sec1"}) == "pw-env1"
    assert store_password({}, {"store_password": "pw-sec1"}) == "pw-sec1"
    assert store_password({"PGPASSWORD": "pw-lib1"}, {}) is None  # libpq reads PGPASSWORD itself
    environ = {"PATH": "/bin", "FLOE_STORE_PASSWORD": "pw-env1", "PGPASSWORD": "pw-lib1", "PGPASSFILE": "/p"}
    assert task_environ(environ, common, "") == {"PATH": "/bin"}
    assert "PGPASSWORD" in task_environ(environ, Common(), "")  # not the host's store: the task's own


def test_the_masker_hides_the_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    common = Common(store_type="postgres", store_url="postgresql://floe@127.0.0.1/ci")
    monkeypatch.setenv("FLOE_STORE_PASSWORD", "pw-env-123")
    monkeypatch.setenv("PGPASSWORD", "pw-lib-456")
    hidden = list(masked_values({}, "tok-123456", common))
    assert "pw-env-123" in hidden and "pw-lib-456" in hidden
    assert "pw-env-123" not in list(masked_values({}, "tok-123456", Common()))
