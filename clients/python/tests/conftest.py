import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from fake_daemon import FakeDaemon  # noqa: E402

ENV_VARS = ("AUTOWU_JOB", "AUTOWU_RANK", "AUTOWU_WORLD_SIZE", "AUTOWU_ENDPOINT", "AUTOWU_CONTROL", "AUTOWU_INGEST",
            "AUTOWU_EVENTS", "AUTOWU_TOKEN", "AUTOWU_SERVER_KEY", "AUTOWU_CLIENT_PUBLIC_KEY",
            "AUTOWU_CLIENT_SECRET_KEY", "SLURM_JOB_ID", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID",
            "SLURM_RESTART_COUNT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "TORCHELASTIC_RUN_ID",
            "TORCHELASTIC_RESTART_COUNT", "AUTOWU_AUTH", "AUTOWU_MUNGE_SOCKET")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No test sees the machine's Slurm/torchrun/autowu variables."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def daemon():
    d = FakeDaemon()
    yield d
    d.close()


@pytest.fixture
def make_client(daemon):
    """A RankClient factory wired to the fake daemon, with short timeouts."""
    from autowu import RankClient

    made = []

    def make(steps_per_epoch=10, total_steps=200, **kw):
        kw.setdefault("job_id", "test-job")
        kw.setdefault("token", "secret")
        kw.setdefault("request_timeout", 0.4)
        kw.setdefault("wait_ms", 200)
        kw.setdefault("total_wait", 10.0)
        kw.setdefault("close_linger_ms", 500)
        for name, value in daemon.endpoints().items():
            kw.setdefault(name, value)
        c = RankClient(steps_per_epoch, total_steps, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
