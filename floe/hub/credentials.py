"""The host's own credentials: kept out of every task's environment, and masked wherever printed."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from floe.config.common import Common
from floe.model.mask import MIN_PIECE

ADMIN_VAR = "FLOE_ADMIN"  # the admin token, when not given by -admin or --admin-file
S3_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
STORE_PASSWORD_VAR = "FLOE_STORE_PASSWORD"  # the postgres store's password (or libpq's PGPASSWORD)
PG_VARS = (STORE_PASSWORD_VAR, "PGPASSWORD", "PGPASSFILE")
STORE_PASSWORD_SECRET = "store_password"  # or a `common.secrets` entry of this name


def credential_vars(common: Common) -> frozenset[str]:
    """Variables of the host's environment that hold its credentials: FLOE_ADMIN, every variable a
    `common.secrets` entry reads (a task gets a secret only through `${secret:NAME}`), and the S3
    store's AWS keys when the store is S3, the database password's variables when it is postgres."""
    names = {ADMIN_VAR, *(ref.source for ref in common.secrets.values() if ref.kind == "env")}
    if common.store_type == "s3":
        names.update(S3_VARS)
    if common.store_type == "postgres":
        names.update(PG_VARS)
    return frozenset(names)


def task_environ(environ: Mapping[str, str], common: Common, admin_token: str) -> dict[str, str]:
    """`environ` without the host's credentials: the variables above, and any whose value is the
    admin token (of 4 characters or more, so that a token like `1` does not take `SHLVL=1`)."""
    drop = credential_vars(common)
    token = admin_token if len(admin_token) >= MIN_PIECE else None
    return {k: v for k, v in environ.items() if k not in drop and v != token}


def store_password(environ: Mapping[str, str], secrets: Mapping[str, str]) -> str | None:
    """The postgres store's password: FLOE_STORE_PASSWORD, else the secret `store_password`, else
    None (libpq then reads PGPASSWORD or ~/.pgpass itself)."""
    return environ.get(STORE_PASSWORD_VAR) or secrets.get(STORE_PASSWORD_SECRET) or None


def masked_values(secrets: Mapping[str, str], admin_token: str, common: Common) -> Iterable[str]:
    """What the masker hides: the secrets' values, the admin token, the users' password hashes and,
    with the postgres store, the database password given in the environment."""
    pg = [os.environ[v] for v in PG_VARS[:2] if common.store_type == "postgres" and os.environ.get(v)]
    return [*secrets.values(), admin_token, *(u.password for u in common.users), *pg]
