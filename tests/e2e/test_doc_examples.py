"""The shell examples of the docs, run as written against a real host (only the host's address
changed to the test host's loopback one)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.conftest import HostFactory
from tests.support.gitrepo import Repo

DOCS = Path(__file__).resolve().parents[2] / "docs"
SECRET = "a long random string"
CONF = """
common:
  workspace-root: {root}/ws
  store-type: local
  store-root: {root}/store
flows:
  - id: build-project
    ver: 1
    triggers:
      - {id: push, type: webhook, opts: {secret: "a long random string"}}
    tasks:
      - {id: show, listen: trigger.good, type: exec, opts: {cmd: "true"}}
"""


def sh_block_after(page: str, words: str) -> str:
    """The first ```sh block of docs/`page` after the text `words`."""
    text = (DOCS / page).read_text()
    block = re.search(r"```sh\n(.*?)```", text[text.index(words) :], re.S)
    assert block is not None, f"no sh block after {words!r} in {page}"
    return block.group(1)


def test_the_webhook_curl_example_starts_a_run(floe_host: HostFactory, tmp_path: Path) -> None:
    host = floe_host(CONF)
    repo = Repo(tmp_path / "git")
    head = repo.commit({"a.txt": "a"})
    script = sh_block_after("triggers.md", "which suits scripts").replace("https://ci.example.com", host.url)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=repo.work,
        env={**os.environ, "SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer.get("started") is True, answer
    run = host.wait_run("build-project", answer["run_id"])
    assert run["status"] == "good", run
    assert run["values"]["hash"] == head, run
