"""autowu.env: the job's identity from Slurm, torchrun and AUTOWU_* variables."""

import pytest

from autowu import JobIdentityError, from_environ
from autowu.env import DEFAULT_CONTROL, DEFAULT_EVENTS, DEFAULT_INGEST, derive_endpoints, is_valid_job_id


def test_nothing_identifies_the_job():
    with pytest.raises(JobIdentityError) as info:
        from_environ({})
    message = str(info.value)
    for name in ("AUTOWU_JOB", "SLURM_JOB_ID", "TORCHELASTIC_RUN_ID"):
        assert name in message


def test_torchrun_default_run_id_none_does_not_identify():
    with pytest.raises(JobIdentityError, match="TORCHELASTIC_RUN_ID"):
        from_environ({"TORCHELASTIC_RUN_ID": "none", "RANK": "0", "WORLD_SIZE": "2"})


def test_slurm():
    env = from_environ({"SLURM_JOB_ID": "4242", "SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1",
                        "SLURM_RESTART_COUNT": "2"})
    assert (env.job_id, env.rank, env.world_size, env.local_rank, env.restart_count) == ("slurm-4242", 3, 8, 1, 2)
    assert (env.control, env.ingest, env.events) == (DEFAULT_CONTROL, DEFAULT_INGEST, DEFAULT_EVENTS)
    assert env.token == "" and env.server_key is None
    assert env.sources == ("SLURM_JOB_ID", "SLURM_PROCID", "SLURM_NTASKS")


def test_torchrun():
    env = from_environ({"TORCHELASTIC_RUN_ID": "f00d-42", "RANK": "5", "WORLD_SIZE": "16", "LOCAL_RANK": "1"})
    assert (env.job_id, env.rank, env.world_size, env.local_rank) == ("torchrun-f00d-42", 5, 16, 1)


def test_torchrun_under_slurm_torchrun_wins():
    # SPEC section 2: job id AUTOWU_JOB, then torchrun-<TORCHELASTIC_RUN_ID>, then slurm-<SLURM_JOB_ID>;
    # rank and world size from torchrun's RANK/WORLD_SIZE before Slurm's
    env = from_environ({"SLURM_JOB_ID": "77", "SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_LOCALID": "0",
                        "TORCHELASTIC_RUN_ID": "77", "RANK": "13", "WORLD_SIZE": "16", "LOCAL_RANK": "5"})
    assert (env.job_id, env.rank, env.world_size, env.local_rank) == ("torchrun-77", 13, 16, 5)
    assert env.sources == ("TORCHELASTIC_RUN_ID", "RANK", "WORLD_SIZE")


def test_torchrun_none_under_slurm_falls_back_to_slurm():
    env = from_environ({"SLURM_JOB_ID": "77", "SLURM_PROCID": "1", "SLURM_NTASKS": "2",
                        "TORCHELASTIC_RUN_ID": "none", "RANK": "3", "WORLD_SIZE": "4"})
    assert (env.job_id, env.rank, env.world_size) == ("slurm-77", 3, 4)


def test_autowu_overrides_everything():
    env = from_environ({
        "SLURM_JOB_ID": "77", "SLURM_PROCID": "1", "SLURM_NTASKS": "2", "RANK": "1", "WORLD_SIZE": "2",
        "AUTOWU_JOB": "my-run:v2", "AUTOWU_RANK": "0", "AUTOWU_WORLD_SIZE": "4",
        "AUTOWU_ENDPOINT": "tcp://daemon.example:9000", "AUTOWU_EVENTS": "tcp://other:1234",
        "AUTOWU_TOKEN": "tok", "AUTOWU_SERVER_KEY": "x" * 40,
    })
    assert (env.job_id, env.rank, env.world_size) == ("my-run:v2", 0, 4)
    assert env.control == "tcp://daemon.example:9000"
    assert env.ingest == "tcp://daemon.example:9001"
    assert env.events == "tcp://other:1234"
    assert env.token == "tok" and env.server_key == "x" * 40
    assert env.sources == ("AUTOWU_JOB", "AUTOWU_RANK", "AUTOWU_WORLD_SIZE")


def test_individual_endpoints_without_endpoint():
    env = from_environ({"AUTOWU_JOB": "j", "AUTOWU_CONTROL": "ipc:///tmp/c", "AUTOWU_INGEST": "ipc:///tmp/i"})
    assert (env.control, env.ingest, env.events) == ("ipc:///tmp/c", "ipc:///tmp/i", DEFAULT_EVENTS)


def test_explicit_arguments_win():
    env = from_environ({"AUTOWU_JOB": "j", "AUTOWU_RANK": "3", "AUTOWU_WORLD_SIZE": "4"}, job_id="k", rank=1)
    assert (env.job_id, env.rank, env.world_size) == ("k", 1, 4)


def test_defaults_single_process():
    env = from_environ({"AUTOWU_JOB": "solo"})
    assert (env.rank, env.world_size, env.local_rank, env.restart_count) == (0, 1, None, 0)


def test_derive_endpoints_ipv6_and_errors():
    assert derive_endpoints("tcp://[::1]:7740") == ("tcp://[::1]:7740", "tcp://[::1]:7741", "tcp://[::1]:7742")
    for bad in ("127.0.0.1:7740", "tcp://host", "tcp://host:65535", "tcp://host:port"):
        with pytest.raises(JobIdentityError, match="AUTOWU_ENDPOINT"):
            derive_endpoints(bad)


@pytest.mark.parametrize("environ, match", [
    ({"AUTOWU_JOB": "j", "AUTOWU_RANK": "x"}, "AUTOWU_RANK"),
    ({"AUTOWU_JOB": "j", "RANK": "4", "WORLD_SIZE": "4"}, "rank 4"),
    ({"AUTOWU_JOB": "j", "WORLD_SIZE": "0"}, "world size 0"),
    ({"AUTOWU_JOB": "j", "WORLD_SIZE": "65537"}, "world size"),
    ({"AUTOWU_JOB": "bad id"}, "job id"),
    ({"AUTOWU_JOB": "a" * 129}, "job id"),
    ({"SLURM_JOB_ID": "12/3"}, "SLURM_JOB_ID"),
    ({"AUTOWU_JOB": "j", "AUTOWU_SERVER_KEY": "short"}, "AUTOWU_SERVER_KEY"),
    ({"AUTOWU_JOB": "j", "AUTOWU_CLIENT_PUBLIC_KEY": "x" * 40}, "AUTOWU_CLIENT_SECRET_KEY"),
])
def test_malformed(environ, match):
    with pytest.raises(JobIdentityError, match=match):
        from_environ(environ)


def test_job_id_alphabet():
    assert is_valid_job_id("A-Z.a_z:0-9")
    assert is_valid_job_id("a" * 128)
    for bad in ("", "a/b", "a b", "é", "a\n", "a" * 129):
        assert not is_valid_job_id(bad)


def test_reads_os_environ(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "99")
    assert from_environ().job_id == "slurm-99"
