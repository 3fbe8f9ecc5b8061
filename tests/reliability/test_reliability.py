"""Faults under load, short version: one cluster of this module's own service, created while the
control plane is SIGKILLed, then a ZooKeeper node and a broker SIGKILLed under an idempotent acks=all
producer and a verifying consumer. After each: 0 acknowledged messages lost, 0 duplicates, the cluster
ACTIVE with every partition's ISR equal to its replicas. The tests run in file order on one cluster,
each from a recovered cluster.

The full version adds the control plane SIGKILLed in the middle of a rolling update and repeats every
scenario: `pytest tests/reliability -m reliability_full`, or with a table and N repetitions
`bench/reliability.py`."""
from __future__ import annotations

import pytest

from harness import Service, free_port
from scenarios import Outcome, Reliability, format_table, run_all

TABLE: list[Outcome] = []


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("reliability") / "data", free_port()).start()
    yield service
    if TABLE:
        print("\n" + format_table(TABLE))
    service.stop_everything()


@pytest.fixture(scope="module")
def run(svc, tmp_path_factory):
    return Reliability(svc, tmp_path_factory.mktemp("traffic"))


@pytest.fixture(scope="module")
def created(run):
    arn, outcome = run.create_killing_control_plane("reliable", kill_at="broker")
    TABLE.append(outcome)
    return arn, outcome


def check(outcome: Outcome) -> None:
    if outcome not in TABLE:
        TABLE.append(outcome)
    assert outcome.recovered_s is not None, f"not recovered: {outcome.detail}\n{format_table([outcome])}"
    assert outcome.acked > 0
    # Duplicates the client re-sent under a bumped producer epoch (librdkafka#4953, proven from the log
    # segments) are reported in the table but are not the cluster's doing; any other duplicate fails.
    assert (outcome.lost, outcome.broker_duplicates) == (0, 0), f"{outcome.detail}\n{format_table([outcome])}"


def test_control_plane_killed_mid_create(created):
    arn, outcome = created
    assert "CREATING" in outcome.detail, outcome.detail       # the kill really came before ACTIVE
    check(outcome)
    assert outcome.operation == "UPDATE_COMPLETE"
    assert outcome.states[-1] == "ACTIVE"


def test_zookeeper_sigkill_under_load(run, created):
    outcome = run.kill_node(created[0], "zookeeper-1")
    check(outcome)
    assert "HEALING" in outcome.states, outcome.states


def test_broker_sigkill_under_load(run, created):
    outcome = run.kill_node(created[0], "broker-2")
    check(outcome)
    assert "HEALING" in outcome.states, outcome.states          # the supervisor noticed and replaced it


@pytest.mark.reliability_full
def test_full_suite(svc, tmp_path):
    """Every scenario twice, including the control plane SIGKILLed in the middle of a rolling update
    (UpdateMonitoring turning the JMX exporter on, then off): the operation must finish and every
    broker must serve the requested setting. Several minutes per roll on the 2-core machine."""
    outcomes = run_all(svc, tmp_path, reps=2)
    TABLE.extend(outcomes)
    table = format_table(outcomes)
    assert outcomes and all(o.ok for o in outcomes), table
    scenarios = {o.scenario for o in outcomes}
    assert scenarios == {"control-plane-mid-create", "broker", "zookeeper", "control-plane-mid-update"}, table
