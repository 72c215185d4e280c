"""A signature or secret of any text is compared without a server error (floe.model.constant_time)."""

from __future__ import annotations

import pytest

from tests.conftest import HostFactory
from tests.e2e.test_hardening_tasks import CONF, pend


@pytest.mark.parametrize("sig", ["é" * 64, "\u2603", "0" * 63 + "\x00"])
def test_a_pend_signed_with_text_that_is_not_ascii_is_refused_not_a_server_error(
    floe_host: HostFactory, sig: str
) -> None:
    host = floe_host(CONF)
    foreign = pend("plain", tasks=[{"id": "own", "class": "task", "type": "exec", "listen": "trigger.good"}])
    r = host.post("/p2p/runs", {**foreign, "snapshot_sig": sig})
    assert r.status_code == 403 and "signed" in r.json()["error"], r.text
    assert "Traceback" not in host.log()
