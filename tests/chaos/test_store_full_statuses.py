"""The store cannot write (its disk is full): every route that would create a run answers the same
503 for that one cause, a webhook as `push/data`, with or without a delivery id."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.chaos.test_disk_full import fill, tmpfs
from tests.support.host import BASE, TOKEN, FloeHost

CONF = """
common:
  workspace-root: {root}/ws
  store-type: local
  store-root: {root}/store
  store-timeout: 1  # each 503 below comes after it (5 s by default): the store's disk is full throughout
flows:
  - id: quick
    ver: 1
    triggers: [{id: go, type: data}, {id: hook, type: webhook}]
    tasks:
      - {id: done, listen: trigger.good, type: end}
"""
PUSH = json.dumps({"ref": "refs/heads/main", "after": "1" * 40, "repository": {"clone_url": "x"}})


@pytest.mark.timeout(120)
def test_a_full_store_is_one_503_on_every_route_that_starts_runs(tmp_path: Path) -> None:
    root = tmp_path / "h1"
    with tmpfs(root / "store") as store:
        host = FloeHost(root, CONF)
        try:
            host.start()
            fill(store / "filler")
            with httpx.Client(base_url=host.url + BASE, headers={"X-Floe-Auth": TOKEN}, timeout=30) as c:
                answers = [
                    c.post("/push/data", json={"Ref": {"ID": "quick"}, "Form": {"ID": "go"}}),
                    c.post("/push/webhook/quick/hook", content=PUSH, headers={"X-GitHub-Event": "push"}),
                    c.post(
                        "/push/webhook/quick/hook",
                        content=PUSH,
                        headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1"},
                    ),
                ]
            (store / "filler").unlink()
            for r in answers:
                assert r.status_code == 503, (r.request.url.path, r.text)
                assert r.json()["error"].startswith("the store cannot write"), r.text
        finally:
            host.stop()
            host.http.close()
