"""The YAML keys floe reads (and the ones this remake adds), and the node types of each class."""

from __future__ import annotations

COMMON_KEYS = frozenset(
    {
        "hosts",
        "base-url",
        "workspace-root",
        "store-type",
        "store-root",
        "git-key",
        # additions: the S3 store
        "s3-bucket",
        "s3-prefix",
        "s3-endpoint",
        "s3-region",
        "s3-timeout",  # addition: each S3 request's connect and read timeout (docs/store.md)
        # addition: the PostgreSQL store (docs/cluster.md, "PostgreSQL cluster")
        "store-url",
        # additions: users and their roles
        "users",
        # addition: secrets (docs/secrets.md)
        "secrets",
        # addition: who may post a flow document with its run (docs/flow-data.md)
        "posted-flows",
        # additions: the HTTP edge (docs/security.md)
        "max-body",
        "allowed-origins",
        # addition: how long archived runs and workspaces are kept (docs/retention.md)
        "retention",
        # addition: the most runs a host takes at once (docs/cluster.md, "Capacity: max-runs")
        "max-runs",
        # addition: how long a host's lease on the postgres store lasts (docs/cluster.md)
        "lease",
        # addition: how long a request waits for a store that cannot write (docs/store.md)
        "store-timeout",
    }
)
HOST_KEYS = frozenset({"common", "flows"})
FLOW_KEYS = frozenset(
    {
        "id",
        "ver",
        "name",
        "reuse-space",
        "host-tags",
        "resource-tags",
        "env",
        "flow-file",
        "triggers",
        "tasks",
        # additions
        "policies",
        "retention",
    }
)
NODE_KEYS = frozenset(
    {
        "id",
        "name",
        "class",
        "type",
        "listen",
        "wait",
        "good",
        "ignore-fail",
        "use-status",
        "opts",
        # additions
        "timeout",
        "retries",
        "backoff",
        "when",
        "foreach",
        "artifacts",
    }
)
# keys that only mean something on a task; floe ignored them elsewhere, so elsewhere they warn
TASK_ONLY_KEYS = (
    "good",
    "ignore-fail",
    "use-status",
    "timeout",
    "retries",
    "backoff",
    "when",
    "foreach",
    "artifacts",
)
FOREACH_KEYS = frozenset({"items", "concurrency", "rate", "result"})

STORE_TYPES = frozenset({"memory", "local", "s3", "postgres"})
TRIGGER_TYPES = frozenset({"data", "timer", "poll-git", "webhook", "git-push"})
TRIGGER_ALIASES = {"git-push": "webhook"}  # floe's name → the type this remake implements
TASK_TYPES = frozenset({"exec", "fetch", "git-checkout", "git-merge", "http", "data", "timer", "end"})
MERGE_TYPES = frozenset({"all", "any"})
CHECKSUM_ALGOS = frozenset({"sha256", "sha1", "md5"})
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

FIELD_KEYS = frozenset({"id", "prompt", "type", "required", "regex", "options", "default", "value"})
FIELD_TYPES = frozenset({"string", "text", "int", "bool", "choice", "list"})
FIELD_ALIASES = {"text": "string"}
