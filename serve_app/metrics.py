"""What a replica tells the Ray dashboard and Prometheus about the purchases it answers.

Serve's metrics add the application, deployment and replica tags. Label sets stay
bounded: the outcome is one of a fixed set, and the deal is named only once the
catalogue knows it (an unknown or never-looked-up id counts under ``-``), so a caller
cannot mint series by inventing deal ids. Recording costs ~1-2 µs (measured here), so
it is done on every purchase rather than sampled.

Counters are cheap all the way: the worker sums them and exports a total. Histograms
are not: Ray's dashboard agent turns each exported bucket count back into that many
single observations (``OpenTelemetryMetricRecorder.record_histogram_aggregated_batch``),
~15 µs of the agent's CPU per observation on the two-core bench box, on the cores that
serve the buyers. So no histogram is observed per request here: a purchase's latency is
Serve's own ``ray_serve_http_request_latency_ms`` for the purchase route (by status
code), which Serve observes anyway; the shard-call histograms are observed once per
actor call, which carries a whole batch of buyers.
"""

from __future__ import annotations

from ray.serve import metrics

# Seconds: a shard answers from memory in well under a millisecond; a call that waits
# for its group commit takes a few; the tail is the queue.
LATENCY_BOUNDARIES = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
NO_DEAL = "-"


class PurchaseMetrics:
    def __init__(self) -> None:
        self._outcomes = metrics.Counter(
            "flashsale_purchases",
            description="Purchase attempts answered by a replica, by outcome and deal.",
            tag_keys=("outcome", "deal"),
        )
        self._shard_calls = metrics.Histogram(
            "flashsale_shard_call_latency_s",
            description="Seconds one actor call from a replica to a stock shard took.",
            boundaries=LATENCY_BOUNDARIES,
        )
        self._batch_sizes = metrics.Histogram(
            "flashsale_purchase_batch_size",
            description="Purchases carried by one actor call from a replica to a stock shard.",
            boundaries=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
        )

    def answered(self, outcome: str, deal: str) -> None:
        self._outcomes.inc(tags={"outcome": outcome, "deal": deal})

    def shard_call(self, batch_size: int, seconds: float) -> None:
        # One observation per actor call, not per buyer.
        self._batch_sizes.observe(batch_size)
        self._shard_calls.observe(seconds)
