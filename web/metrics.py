"""GET /metrics: Prometheus text, built at scrape time from Redis, so every web process serves
the same figures whichever workers counted them."""

from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from app.cluster.metrics import DURATION_BUCKETS, parse
from app.jobs.queues import RUN_QUEUE, SHARED_QUEUE, node_queue, track_queue
from web.services import services

blueprint = Blueprint("metrics", __name__)

COUNTERS = {
    "runs_total": ("greenbar_runs", "Runs finished, by outcome", "outcome"),
    "pulls_total": ("greenbar_pulls", "Pulls finished on a node, by final state", "state"),
    "rag_cache_total": ("greenbar_rag_cache", "Rag lambda lookups, by hit or miss", "result"),
}


class _Collector:
    def __init__(self, counted: dict[str, float], depths: dict[str, int]) -> None:
        self._counted = counted
        self._depths = depths

    def collect(self) -> Iterator[Metric]:
        parsed = [(*parse(raw), value) for raw, value in self._counted.items()]
        for key, (name, documentation, label) in COUNTERS.items():
            family = CounterMetricFamily(name, documentation, labels=[label])
            for found, labels, value in parsed:
                if found == key:
                    family.add_metric([labels.get(label, "")], value)
            yield family
        yield self._durations(parsed)
        depth = GaugeMetricFamily(
            "greenbar_queue_depth", "Messages waiting in a queue", labels=["queue"]
        )
        for queue, waiting in sorted(self._depths.items()):
            depth.add_metric([queue], waiting)
        yield depth

    def _durations(self, parsed: list[tuple[str, dict[str, str], float]]) -> Metric:
        buckets = {labels["le"]: v for n, labels, v in parsed if n == "run_duration_bucket"}
        total = sum(v for n, _, v in parsed if n == "run_duration_sum")
        ordered = [(str(b), buckets.get(str(b), 0.0)) for b in DURATION_BUCKETS]
        ordered.append(("+Inf", buckets.get("+Inf", 0.0)))
        family = HistogramMetricFamily(
            "greenbar_run_duration_seconds", "Run durations, from taking a run to its result"
        )
        family.add_metric([], ordered, sum_value=total)
        return family


@blueprint.get("/metrics")
def metrics() -> Response:
    s = services()
    workers = s.stores.registry.live()
    queues = {RUN_QUEUE, SHARED_QUEUE, *s.stores.depth.queues("greenbar.")}
    queues |= {node_queue(w.node) for w in workers}
    queues |= {track_queue(t) for w in workers for t in w.tracks}
    registry = CollectorRegistry()
    registry.register(_Collector(s.stores.metrics.read(), s.stores.depth.depths(sorted(queues))))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
