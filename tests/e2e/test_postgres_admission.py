"""Admission policies on a PostgreSQL cluster count across its hosts: `max-concurrent` and `rate`
hold for the flow in the whole cluster, also when both hosts take triggers at the same moment and
after a host was lost with a run of the flow."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import HostFactory
from tests.support.host import FloeHost, wait_for
from tests.support.postgres import HOST_CONF, PgServer, rows

CONF = (
    HOST_CONF
    + """\
  - id: one
    ver: 1
    triggers: [{{id: go, type: data}}]
    policies: [{{name: single, max-concurrent: 1}}]
    tasks:
      - id: hold
        listen: trigger.good
        type: exec
        opts: {{shell: 'echo holding; while [ ! -e {shared}/release ]; do sleep 0.05; done'}}
      - {{id: done, listen: task.hold.good, type: end}}
  - id: two
    ver: 1
    triggers: [{{id: go, type: data}}]
    policies: [{{name: pair, max-concurrent: 2}}]
    tasks:
      - id: hold
        listen: trigger.good
        type: exec
        opts: {{shell: 'while [ ! -e {shared}/release ]; do sleep 0.05; done'}}
      - {{id: done, listen: task.hold.good, type: end}}
  - id: rated
    ver: 1
    triggers: [{{id: go, type: data}}]
    policies: [{{name: slowly, rate: 3/hour}}]
    tasks:
      - {{id: done, listen: trigger.good, type: end}}
  - id: lone
    ver: 1
    host-tags: [special]
    triggers: [{{id: go, type: data}}]
    policies: [{{name: single, max-concurrent: 1}}]
    tasks:
      - {{id: hold, listen: trigger.good, type: exec, opts: {{shell: 'echo holding; exec sleep 120'}}}}
"""
)


def hosts(
    tmp_path: Path, url: str, floe_host: HostFactory, *, process: bool = False
) -> tuple[FloeHost, FloeHost]:
    shared = tmp_path / "shared"
    shared.mkdir()
    conf = CONF.format(root="{root}", url=url, shared=shared)
    h1 = floe_host(conf, name="h1", tags="linux")
    h2 = floe_host(conf, name="h2", tags="linux,special", process=process)
    wait_for(lambda: len(rows(url, "SELECT 1 FROM hosts WHERE lease_until > now()")) == 2, what="both leases")
    return h1, h2


def refused(r: httpx.Response) -> str:
    assert r.status_code == 429, r.text
    message: str = r.json()["error"]
    return message


def test_max_concurrent_1_holds_across_two_hosts_and_frees_when_the_run_ends(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    h1, h2 = hosts(tmp_path, pg_url, floe_host)
    first = h1.trigger("one")
    assert refused(h2.push("one", "go")) == "policy single: at most 1 concurrent runs of one"
    assert refused(h1.push("one", "go")) == "policy single: at most 1 concurrent runs of one"
    (tmp_path / "shared" / "release").touch()
    assert h1.wait_run("one", first)["status"] == "good"
    second = h2.trigger("one")  # the first one's end freed its place in the whole cluster
    assert h2.wait_run("one", second)["status"] == "good"
    rerun = h1.post(f"/flows/one/runs/{first}/rerun")  # re-runs are admitted like triggers
    assert rerun.status_code == 202, rerun.text
    assert h2.wait_run("one", rerun.json()["run_id"])["status"] == "good"
    assert rows(pg_url, "SELECT count(*) FROM runs WHERE flow = 'one'") == [(3,)]


def test_triggers_at_once_on_two_hosts_at_the_limit_admit_exactly_the_limit(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    h1, h2 = hosts(tmp_path, pg_url, floe_host)
    start = threading.Barrier(8)

    def push(host: FloeHost) -> httpx.Response:
        start.wait()
        return host.push("two", "go")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(push, [h1, h2] * 4))
    codes = sorted(r.status_code for r in answers)
    assert codes == [202, 202, 429, 429, 429, 429, 429, 429], [r.text for r in answers]
    assert {refused(r) for r in answers if r.status_code == 429} == {
        "policy pair: at most 2 concurrent runs of two"
    }
    made = sorted(r.json()["run_id"] for r in answers if r.status_code == 202)
    live = rows(pg_url, "SELECT run_id FROM runs WHERE flow = 'two' AND phase IN ('pending', 'active')")
    assert sorted(r for (r,) in live) == made
    (tmp_path / "shared" / "release").touch()
    for rid in made:
        assert h1.wait_run("two", rid)["status"] == "good"


def test_a_rate_is_one_bucket_of_the_cluster(tmp_path: Path, pg_url: str, floe_host: HostFactory) -> None:
    h1, h2 = hosts(tmp_path, pg_url, floe_host)
    made = [h1.trigger("rated"), h2.trigger("rated"), h1.trigger("rated")]  # its 3 tokens
    for host in (h2, h1):
        assert refused(host.push("rated", "go")).startswith("policy slowly: rate limit: try again in ")
    for rid in made:
        assert h2.wait_run("rated", rid)["status"] == "good"
    assert rows(pg_url, "SELECT flow, policy FROM buckets") == [("rated", "slowly")]


@pytest.mark.timeout(120)
def test_a_run_of_a_host_killed_frees_its_place_once_taken_over(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    h1, h2 = hosts(tmp_path, pg_url, floe_host, process=True)
    rid = h2.trigger("lone")
    h2.wait_line(rid, "hold", lambda line: line == "holding")
    assert refused(h1.push("lone", "go")) == "policy single: at most 1 concurrent runs of lone"
    h2.kill9()
    wait_for(lambda: h1.run("lone", rid)["status"] == "bad", timeout=60, what="h1 to resolve h2's run")
    assert "host h2 lost while hold was running" in h1.run("lone", rid)["reason"]
    again = h1.trigger("lone")  # admitted: the lost host's run ended (it waits for a special host)
    assert h1.run("lone", again)["status"] == "pending"
    assert refused(h1.push("lone", "go")) == "policy single: at most 1 concurrent runs of lone"


def test_with_the_database_away_a_counted_trigger_gets_503_saying_so(
    tmp_path: Path, pg_server: PgServer, floe_host: HostFactory
) -> None:
    (tmp_path / "shared").mkdir()
    url = pg_server.database()
    host = floe_host(CONF.format(root="{root}", url=url, shared=tmp_path / "shared"), name="h1")
    first = host.trigger("rated")  # (its run ids are reserved in the store from now on)
    assert host.wait_run("rated", first)["status"] == "good"
    pg_server.stop()
    try:
        r = host.push("rated", "go")
        assert r.status_code == 503, r.text
        assert r.json()["error"].startswith("the cluster's database cannot admit the trigger now: "), r.text
    finally:
        pg_server.start()
    wait_for(lambda: host.push("rated", "go").status_code == 202, timeout=30, what="admissions again")
    assert rows(url, "SELECT count(*) FROM runs WHERE flow = 'rated'") == [(2,)]
    assert rows(url, "SELECT count(*) FROM admissions") == [
        (1,)
    ]  # the last one only (its pend is stored, its row dropped at the next admission)
