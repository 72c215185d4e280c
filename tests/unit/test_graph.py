"""The flow graph: emittable tags, listeners, floe's levels, edges and dangling listens."""

from __future__ import annotations

import pytest

from floe.model.flow import Flow, Node, NodeClass
from floe.model.graph import edges, emittable, levels, listened_tags, listeners


def trig(node_id: str) -> Node:
    return Node(node_id, node_id, NodeClass.TRIGGER, "data")


def task(node_id: str, listen: str, node_type: str = "exec", **kw: object) -> Node:
    return Node(node_id, node_id, NodeClass.TASK, node_type, listen=listen, **kw)  # type: ignore[arg-type]


def merge(node_id: str, *wait: str) -> Node:
    return Node(node_id, node_id, NodeClass.MERGE, "all", wait=wait)


# floe's hub test flow (scenario 3) with a data gate and a use-status task added
FLOW = Flow(
    id="f",
    triggers=(trig("start"), trig("push")),
    tasks=(
        task("checkout", "trigger.good", "git-checkout"),
        task("build", "task.checkout.good"),
        task("test1", "task.build.good"),
        task("test2", "task.build.good", use_status=True),
        task("sign", "task.test2.3", "data"),
        merge("merge-tests", "task.test1.good", "task.sign.good"),
        task("end", "merge.merge-tests.good", "end"),
        task("orphan", "task.nobody.good"),
        task("after-orphan", "task.orphan.good"),
    ),
)


def test_levels_follow_floe() -> None:
    assert levels(FLOW) == [
        ["push", "start"],
        ["checkout"],
        ["build"],
        ["test1", "test2"],
        ["sign"],
        ["merge-tests"],
        ["end"],
    ]


def test_levels_of_a_flow_without_triggers_or_tasks() -> None:
    assert levels(Flow(id="x")) == [[]]
    assert levels(Flow(id="x", tasks=(task("a", "trigger.good"),))) == [[], ["a"]]


def test_levels_survive_cycles_and_self_listens() -> None:
    flow = Flow(
        id="c",
        triggers=(trig("t"),),
        tasks=(
            task("a", "trigger.good"),
            merge("b", "task.a.good", "task.c.good"),
            task("c", "merge.b.good"),
            task("d", "task.d.good"),
            task("e", "task.f.good"),
            task("f", "task.e.good"),
        ),
    )
    assert levels(flow) == [["t"], ["a"], ["b"], ["c"]]


def test_levels_of_a_long_chain_need_no_recursion() -> None:
    chain = tuple(task(f"n{i}", "trigger.good" if i == 0 else f"task.n{i - 1}.good") for i in range(3000))
    out = levels(Flow(id="long", triggers=(trig("t"),), tasks=chain))
    assert len(out) == 3001 and out[-1] == ["n2999"]


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("trigger.good", True),
        ("task.build.good", True),
        ("task.build.bad", True),
        ("task.build.error", True),
        ("task.build.3", False),
        ("task.test2.3", True),
        ("task.test2.-1", True),
        ("task.test2.good", True),
        ("task.test2.x", False),
        ("task.sign.good", True),
        ("task.sign.bad", True),
        ("task.sign.error", False),
        ("merge.merge-tests.good", True),
        ("merge.merge-tests.bad", False),
        ("task.merge-tests.good", False),
        ("task.end.good", False),
        ("merge.build.good", False),
        ("sys.end.all", False),
        ("", False),
    ],
)
def test_emittable(tag: str, ok: bool) -> None:
    assert emittable(FLOW)(tag) is ok


def test_listeners_in_file_order() -> None:
    assert [n.id for n in listeners(FLOW, "task.build.good")] == ["test1", "test2"]
    assert [n.id for n in listeners(FLOW, "task.sign.good")] == ["merge-tests"]
    assert [n.id for n in listeners(FLOW, "trigger.good")] == ["checkout"]
    assert listeners(FLOW, "task.end.good") == ()


def test_edges() -> None:
    assert edges(FLOW) == [
        ("start", "checkout", "trigger.good"),
        ("push", "checkout", "trigger.good"),
        ("checkout", "build", "task.checkout.good"),
        ("build", "test1", "task.build.good"),
        ("build", "test2", "task.build.good"),
        ("test2", "sign", "task.test2.3"),
        ("test1", "merge-tests", "task.test1.good"),
        ("sign", "merge-tests", "task.sign.good"),
        ("merge-tests", "end", "merge.merge-tests.good"),
        ("orphan", "after-orphan", "task.orphan.good"),
    ]


def test_dangling_listens() -> None:  # what config/flows.py warns about
    can_emit = emittable(FLOW)
    dangling = [(n.id, tag) for n in FLOW.tasks for tag in listened_tags(n) if not can_emit(tag)]
    assert dangling == [("orphan", "task.nobody.good")]
