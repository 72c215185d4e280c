"""YAML of the flows the benchmarks run (appended under `flows:` of a host config)."""

from __future__ import annotations


def chain(flow_id: str, n: int) -> str:
    """`n` sequential `exec true` tasks, then an end node."""
    lines = [
        f"  - id: {flow_id}",
        "    ver: 1",
        "    triggers: [{id: go, type: data}]",
        "    tasks:",
        "      - {id: t1, listen: trigger.good, type: exec, opts: {cmd: 'true'}}",
    ]
    lines += [
        f"      - {{id: t{i}, listen: task.t{i - 1}.good, type: exec, opts: {{cmd: 'true'}}}}"
        for i in range(2, n + 1)
    ]
    lines.append(f"      - {{id: done, listen: task.t{n}.good, type: end}}")
    return "\n".join(lines) + "\n"


def one_task(flow_id: str, cmd: str = "true") -> str:
    """One exec task, then an end node."""
    return (
        f"  - id: {flow_id}\n"
        "    ver: 1\n"
        "    triggers: [{id: go, type: data}]\n"
        "    tasks:\n"
        f"      - {{id: work, listen: trigger.good, type: exec, opts: {{cmd: '{cmd}'}}}}\n"
        "      - {id: done, listen: task.work.good, type: end}\n"
    )


def shell_task(flow_id: str, script: str) -> str:
    """One exec task running a bash script."""
    return (
        f"  - id: {flow_id}\n"
        "    ver: 1\n"
        "    triggers: [{id: go, type: data}]\n"
        "    tasks:\n"
        f"      - {{id: work, listen: trigger.good, type: exec, opts: {{shell: '{script}'}}}}\n"
        "      - {id: done, listen: task.work.good, type: end}\n"
    )


def gate(flow_id: str) -> str:
    """A run that waits on a data gate at once (status `waiting`), then one task."""
    return (
        f"  - id: {flow_id}\n"
        "    ver: 1\n"
        "    triggers: [{id: go, type: data}]\n"
        "    tasks:\n"
        "      - id: approve\n"
        "        listen: trigger.good\n"
        "        type: data\n"
        "        opts:\n"
        "          form:\n"
        "            title: Approve\n"
        "            fields: [{id: ok, prompt: Ship it?, type: bool, required: true}]\n"
        "      - {id: ship, listen: task.approve.good, type: exec, opts: {cmd: 'true'}}\n"
        "      - {id: done, listen: task.ship.good, type: end}\n"
    )
