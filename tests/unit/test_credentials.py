"""The host's own credentials: which variables tasks never get, and what the masker hides."""

from __future__ import annotations

from floe.config.common import Common
from floe.config.secrets import SecretRef
from floe.config.users import User
from floe.hub.credentials import masked_values, task_environ


def test_tasks_start_without_the_hosts_credentials() -> None:
    common = Common(
        store_type="s3",
        secrets={
            "DEPLOY": SecretRef("DEPLOY", "env", "DEPLOY_SRC"),
            "KEY": SecretRef("KEY", "file", "/etc/key"),
        },
    )
    environ = {
        "PATH": "/usr/bin",
        "SHLVL": "1",
        "FLOE_ADMIN": "tok-123456",
        "DEPLOY_SRC": "d",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_ACCESS_KEY_ID": "a",
        "COPY_OF_TOKEN": "tok-123456",
        "FLOE_RUN_ID": "h1-1",
    }
    assert task_environ(environ, common, "tok-123456") == {
        "PATH": "/usr/bin",
        "SHLVL": "1",
        "FLOE_RUN_ID": "h1-1",
    }
    assert task_environ({"SHLVL": "1"}, Common(), "1") == {"SHLVL": "1"}  # a short token takes no value
    assert "AWS_ACCESS_KEY_ID" in task_environ({"AWS_ACCESS_KEY_ID": "a"}, Common(), "")  # not the store's


def test_the_masker_hides_the_token_and_the_users_hashes() -> None:
    common = Common(users=(User("vera", "scrypt$1$2$3$salt$digest", "viewer"),))
    assert list(masked_values({"S": "secret-1"}, "tok-123456", common)) == [
        "secret-1",
        "tok-123456",
        "scrypt$1$2$3$salt$digest",
    ]
