"""Prometheus metrics of one host: run counts, task durations, pending runs, queue depth, clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from floe.hub.hub import Hub
from floe.model.run import RunStatus

BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class HubState(Collector):
    """Read at scrape time from the hub: ended runs, pending/active runs, queue depth, clients."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        ended = CounterMetricFamily(
            "floe_runs_ended",
            "Runs ended on this host since it started, by flow and result.",
            labels=["flow", "status"],
        )
        for (flow, status), n in sorted(self.hub.counts.items()):
            ended.add_metric([flow, status], n)
        yield ended
        runs = list(self.hub.runs.values())
        pending = sum(1 for r in runs if r.status is RunStatus.PENDING)
        yield GaugeMetricFamily("floe_runs_pending", "Pending runs held by this host.", value=pending)
        yield GaugeMetricFamily("floe_runs_active", "Active runs on this host.", value=len(runs) - pending)
        yield GaugeMetricFamily(
            "floe_hub_queue_depth", "Messages waiting in the hub's queue.", value=self.hub.queue.qsize()
        )
        yield GaugeMetricFamily(
            "floe_websocket_clients",
            "Connected event-stream clients.",
            value=len(self.hub.broadcast),
        )


class EventMetrics:
    """Counts started runs and times tasks from the hub's events (start → result tag)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.started = Counter(
            "floe_runs_started", "Runs activated on this host, by flow.", ["flow"], registry=registry
        )
        self.triggered = Counter(
            "floe_runs_triggered", "Pending runs created on this host, by flow.", ["flow"], registry=registry
        )
        self.duration = Histogram(
            "floe_task_duration_seconds",
            "Task run time, start to result, by flow and result (good, bad, error).",
            ["flow", "result"],
            buckets=BUCKETS,
            registry=registry,
        )
        self._starts: dict[tuple[str, str], float] = {}

    def observe(self, e: dict[str, Any]) -> None:
        tag, run_id, flow, node = e["tag"], e["run_id"], e["flow"], e["source_node"]
        if tag == "sys.state":
            action = e["opts"].get("action")
            if action == "activate":
                self.started.labels(flow).inc()
            elif action == "add-pend":
                self.triggered.labels(flow).inc()
        elif tag == "sys.node.start":
            self._starts[(run_id, node)] = e["at"]
        elif tag == "sys.end.all":
            for key in [k for k in self._starts if k[0] == run_id]:
                del self._starts[key]
        elif tag.startswith("task.") and (start := self._starts.pop((run_id, node), None)) is not None:
            result = "error" if tag.endswith(".error") else ("good" if e["good"] else "bad")
            self.duration.labels(flow, result).observe(max(0.0, e["at"] - start))


class Metrics:
    """The host's registry; the hub shows it every event as an observer."""

    def __init__(self, hub: Hub) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: noise
        self.registry = CollectorRegistry(auto_describe=True)
        self.events = EventMetrics(self.registry)
        self.registry.register(HubState(hub))
        hub.observers.append(self.events.observe)

    def render(self) -> bytes:
        data: bytes = generate_latest(self.registry)
        return data


async def endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
