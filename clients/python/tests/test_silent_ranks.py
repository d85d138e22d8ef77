"""A rank whose epoch closed without any of its losses is told so (SPEC section 9), against a real autowud.

Rank 1 of a 2-rank job is stuck during epoch 0; rank 0 waits at the gate, the daemon closes the epoch after its
close timeout with rank 0's losses only, and the verdict names rank 1. When rank 1 comes back (a restart after
epoch 0, so it has nothing of epoch 0 to resend) its client warns once; the daemon's log says so too.
"""

from __future__ import annotations

import logging
import threading

import pytest

import real_daemon as rd
from autowu import RankClient
from autowu.client import verdict_dict, verdict_metrics

_MISSING = rd.missing_reason()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

E, T = 8, 400


def client(daemon: rd.RealDaemon, rank: int, **kwargs) -> RankClient:
    return RankClient(E, T, job_id="silent", rank=rank, world_size=2, token="t", batch_size=1, total_wait=60.0,
                      **daemon.endpoints(), **kwargs)


def test_an_epoch_closed_without_a_rank_names_it_and_the_rank_is_told(tmp_path, caplog):
    daemon = rd.RealDaemon(tmp_path / "data", close_timeout_ms=300)
    try:
        first = client(daemon, 0)
        for t in range(E):
            first.lr(t)
            first.report(t, 2.3 - 0.001 * t)
        first.lr(E + 1)  # past the gate of epoch 0: the daemon closed it without rank 1
        verdict = verdict_dict(first.state)
        assert verdict["epoch"] == 0 and verdict["reports_missing"] == E
        assert verdict["silent_rank_count"] == 1 and verdict["silent_ranks"] == [1]
        assert verdict_metrics(verdict)["autowu/silent_ranks"] == 1.0
        assert first.stats["silent_epochs"] == 0, "rank 0 reported: nothing to tell it"

        with caplog.at_level(logging.WARNING, logger="autowu"):
            second = client(daemon, 1, start_step=E)  # back after epoch 0: its losses of it are gone
            second.lr(E)
        told = [r.getMessage() for r in caplog.records if "without any loss from rank 1" in r.getMessage()]
        assert len(told) == 1 and "epoch 0 of job silent" in told[0], [r.getMessage() for r in caplog.records]
        assert second.stats["silent_epochs"] == 1
        second.snapshot()  # the same verdict again: said once
        assert second.stats["silent_epochs"] == 1
        status = daemon.status("silent", token="t")
        assert list(status.last_verdict.silent_ranks) == [1] and status.last_verdict.silent_rank_count == 1
        first.close()
        second.close()
    finally:
        daemon.stop()
    assert "epoch closed without some ranks" in daemon.log(), daemon.log()[-2000:]


def test_an_epoch_every_rank_reported_names_no_one(tmp_path):
    daemon = rd.RealDaemon(tmp_path / "data")
    try:
        ranks = [client(daemon, r) for r in range(2)]
        for t in range(E):
            for c in ranks:
                c.lr(t)
                c.report(t, 2.3 - 0.001 * t)
        # Each rank waits at the gate on its own thread: a rank's losses may still be held back (its ingest
        # subscription not yet seen), and its own wait is what sends them (as pending) then.
        waits = [threading.Thread(target=c.lr, args=(E + 1,)) for c in ranks]
        for w in waits:
            w.start()
        for w in waits:
            w.join(60)
        for c in ranks:
            v = verdict_dict(c.state)
            assert v["epoch"] == 0 and v["silent_rank_count"] == 0 and v["silent_ranks"] == []
            assert c.stats["silent_epochs"] == 0
            c.close()
    finally:
        daemon.stop()
    assert "epoch closed without some ranks" not in daemon.log()
