"""Three replicas behind Debian's HAProxy (deploy/haproxy.cfg) on 127.0.0.1, under load: a
replica killed with SIGKILL, and a replica rolled with SIGTERM, cost the clients no request."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from benchmarks.serving_cluster import Balancer, Load, cluster, counts, wait_for

CLIENTS = 6


@pytest.fixture(scope="module")
def balancer(haproxy: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Balancer]:
    with cluster(3, log_dir=tmp_path_factory.mktemp("cluster")) as lb:
        yield lb


def _assert_none_failed(load: Load, balancer: Balancer, since: float, until: float) -> None:
    total, event = counts(load.records), counts(load.records, since, until)
    assert event.sent > 50, event
    assert total.failed == 0, f"{total}\nhaproxy log:\n{balancer.log()[-3000:]}"
    assert total.sent == total.answered
    # a connection closed without an answer is sent again by the client, once, and counted:
    # it must stay the exception (HAProxy's queue keeps requests out of a replica's buffers)
    assert total.client_retried <= 2, total


def _back_in_rotation(balancer: Balancer, replica_index: int) -> None:
    """The restarted replica gets requests again: the health check has picked it up."""
    replica = balancer.replicas[replica_index]
    wait_for(lambda: replica.gradient_requests() > 20, 20, "the replica back in rotation")


def test_kill_9_of_a_replica_loses_no_request(balancer: Balancer) -> None:
    victim = balancer.replicas[0]
    with Load(balancer.url, clients=CLIENTS) as load:
        time.sleep(1.5)
        t0 = time.monotonic()
        victim.kill9()
        time.sleep(1.0)
        victim.start()
        wait_for(victim.ready, 60, "the killed replica restarted")
        t1 = time.monotonic()
        _back_in_rotation(balancer, 0)
    _assert_none_failed(load, balancer, t0, t1)


def test_sigterm_roll_of_a_replica_loses_no_request(balancer: Balancer) -> None:
    victim = balancer.replicas[1]
    with Load(balancer.url, clients=CLIENTS) as load:
        time.sleep(1.5)
        t0 = time.monotonic()
        victim.terminate()
        assert victim.proc is not None
        assert victim.proc.wait(timeout=40) == 0
        victim.start()
        wait_for(victim.ready, 60, "the rolled replica restarted")
        t1 = time.monotonic()
        _back_in_rotation(balancer, 1)
    _assert_none_failed(load, balancer, t0, t1)
    assert "replica2 is DOWN, reason: Layer7 wrong status, code: 503" in balancer.log()
