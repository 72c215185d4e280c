"""The one tree of errors a request can meet, raised where they happen and mapped to an HTTP
status once, at the edge (floe/server/errors.py):

    FloeError               what went wrong, `extra` says more (`field`, `run_id`, `policy`...)
    ├── BadRequest          400  the input is wrong; `field` names the bad input
    │   ├── FormError       400  a form value (floe/model/form.py)
    │   ├── CannotRunNow    400  a trigger that cannot run now (floe/triggers/run_now.py)
    │   └── BadPayload      400  a webhook body that is no push (floe/triggers/webhook.py)
    ├── Unauthorized        401  no valid credential
    ├── Forbidden           403  the caller may not do this
    ├── NotFound            404  no such flow, run, node or trigger (here); a LookupError
    ├── Conflict            409  the state does not allow it (a run that ended)
    ├── TooLarge            413  a body over the route's limit
    ├── NotJson             415  a body that is not sent as application/json
    ├── Unprocessable       422  a flow-file or config source cannot be had
    │   ├── FlowFileError        (floe/config/errors.py)
    │   └── SourceError          (floe/config/sources.py)
    ├── TooMany             429  wait `retry_after` seconds
    ├── Damaged             500  a stored record cannot be read (DamagedRecord, floe/store/errors.py)
    ├── Unreachable         502  the host that executes a run does not answer
    └── Unavailable         503  the store cannot write now
        └── StoreError           (floe/store/errors.py)

`Rejected` (floe/model/policy.py) is a FloeError whose status its admission policy decides."""

from __future__ import annotations

from typing import Any


class FloeError(Exception):
    """An expected failure: `str()` is the message, `extra` the answer's other keys."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message, self.extra = message, {k: v for k, v in extra.items() if v not in (None, "")}


class BadRequest(FloeError):
    def __init__(self, message: str, field: str = "", **extra: Any) -> None:
        super().__init__(message, field=field, **extra)
        self.field = field


class Unauthorized(FloeError):
    pass


class Forbidden(FloeError):
    pass


class NotFound(FloeError, LookupError):
    pass


class Conflict(FloeError):
    pass


class TooLarge(FloeError):
    pass


class NotJson(FloeError):
    pass


class Unprocessable(FloeError):
    pass


class TooMany(FloeError):
    def __init__(self, message: str, retry_after: int, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.retry_after = retry_after


class Damaged(FloeError):
    pass


class Unreachable(FloeError):
    pass


class Unavailable(FloeError):
    pass
