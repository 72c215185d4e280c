"""The shipped demo (floe/default.yml) runs end to end on a real host, its form values used by its tasks."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import HostFactory

DEMO = (Path(__file__).resolve().parents[2] / "floe" / "default.yml").read_text()


def test_the_demo_build_uses_its_values_and_outputs(floe_host: HostFactory) -> None:
    host = floe_host(DEMO)
    values = {"branch": "release/2.0", "jobs": 3, "target": "darwin", "fast": True}
    run_id = host.trigger("build", "start", values)
    host.wait_run("build", run_id, want={"waiting"})
    assert host.push("build", "sign-off", {"approver": "ada"}, run=run_id).status_code == 200
    run = host.wait_run("build", run_id)
    assert run["status"] == "good", run
    nodes = {n["id"]: n for n in run["nodes"]}
    assert nodes["unit-tests"]["result"] == "skipped"  # fast: true
    assert "checked out release/2.0 into" in host.node_log("build", run_id, "checkout")
    assert "building for darwin with 3 jobs" in host.node_log("build", run_id, "compile")
    commit = nodes["checkout"]["outputs"]["commit"]
    package = host.node_log("build", run_id, "package")
    assert f"build-{commit}.tgz" in package and "signed off by ada" in package
