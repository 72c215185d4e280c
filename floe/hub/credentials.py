"""The host's own credentials: kept out of every task's environment, and masked wherever printed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from floe.config.common import Common
from floe.model.mask import MIN_PIECE

ADMIN_VAR = "FLOE_ADMIN"  # the admin token, when not given by -admin or --admin-file
S3_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def credential_vars(common: Common) -> frozenset[str]:
    """Variables of the host's environment that hold its credentials: FLOE_ADMIN, every variable a
    `common.secrets` entry reads (a task gets a secret only through `${secret:NAME}`), and the S3
    store's AWS keys when the store is S3."""
    names = {ADMIN_VAR, *(ref.source for ref in common.secrets.values() if ref.kind == "env")}
    if common.store_type == "s3":
        names.update(S3_VARS)
    return frozenset(names)


def task_environ(environ: Mapping[str, str], common: Common, admin_token: str) -> dict[str, str]:
    """`environ` without the host's credentials: the variables above, and any whose value is the
    admin token (of 4 characters or more, so that a token like `1` does not take `SHLVL=1`)."""
    drop = credential_vars(common)
    token = admin_token if len(admin_token) >= MIN_PIECE else None
    return {k: v for k, v in environ.items() if k not in drop and v != token}


def masked_values(secrets: Mapping[str, str], admin_token: str, common: Common) -> Iterable[str]:
    """What the masker hides: the secrets' values, the admin token and the users' password hashes."""
    return [*secrets.values(), admin_token, *(u.password for u in common.users)]
