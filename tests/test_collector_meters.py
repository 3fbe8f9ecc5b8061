"""The collector's meter rates (telemetry/collector.py): Count deltas over the spacing of the passes, and
a broker this control plane started counts from 0 at its start, so traffic it took in before the first
pass is rated instead of lost; a broker adopted from an earlier control plane is not (its counts span
periods that process already published)."""
from __future__ import annotations

import asyncio
import os
import time
from types import SimpleNamespace

from openmsk.runtime.placement import NodeStatus
from openmsk.telemetry import jmx
from openmsk.telemetry.catalog import METER_SERIES
from openmsk.telemetry.collector import Collector

CLUSTER = {"Uuid": "u-1", "ClusterName": "c", "Spec": {}, "VolumeSize": 1}


def _collector(tmp_path, status: NodeStatus, counts: list[dict]) -> Collector:
    (tmp_path / "broker-1" / "data").mkdir(parents=True)
    collector = Collector(store=None, interval=60)
    collector.plane = SimpleNamespace(
        placement=SimpleNamespace(observe=lambda name: asyncio.sleep(0, status)),
        cluster_dir=lambda cluster: tmp_path)
    scrapes = iter(counts)

    async def scrape(cluster, address):
        now = next(scrapes)
        return jmx.Scrape([(METER_SERIES, {"name": name, **({"topic": topic} if topic else {})}, value)
                           for (name, topic), value in now.items()])
    collector.scrape = scrape
    return collector


def _rates(collector: Collector, tick: float) -> dict:
    metrics, _, _ = asyncio.run(collector.collect_broker(CLUSTER, {"BrokerId": 1, "Address": "127.0.0.1"}, tick))
    return {(m, dims.get("Topic")): v for m, dims, _, v in metrics if m in ("MessagesInPerSec", "BytesInPerSec")}


def test_traffic_before_the_first_pass_of_a_broker_started_here_is_rated(tmp_path):
    started = time.time() - 10            # the broker started 10 s before the pass
    status = NodeStatus("u-1/broker-1", "running", os.getpid(), started_at=started, adopted=False)
    first = {("MessagesInPerSec", None): 2000.0, ("BytesInPerSec", "orders"): 200_000.0}
    second = {("MessagesInPerSec", None): 2600.0, ("BytesInPerSec", "orders"): 260_000.0}
    collector = _collector(tmp_path, status, [first, second])
    tick = time.monotonic()
    rates = _rates(collector, tick)
    assert 180 < rates[("MessagesInPerSec", None)] <= 201          # 2,000 messages over ~10 s
    assert 18_000 < rates[("BytesInPerSec", "orders")] <= 20_100
    rates = _rates(collector, tick + 60)                             # then deltas over the passes' spacing
    assert rates == {("MessagesInPerSec", None): 10.0, ("BytesInPerSec", "orders"): 1000.0}


def test_an_adopted_broker_starts_rating_at_its_second_pass(tmp_path):
    status = NodeStatus("u-1/broker-1", "running", os.getpid(), started_at=time.time() - 3600, adopted=True)
    first = {("MessagesInPerSec", None): 9_000_000.0}
    second = {("MessagesInPerSec", None): 9_000_600.0}
    collector = _collector(tmp_path, status, [first, second])
    tick = time.monotonic()
    assert _rates(collector, tick) == {}
    assert _rates(collector, tick + 60) == {("MessagesInPerSec", None): 10.0}
