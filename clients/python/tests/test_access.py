"""Who may act on a job, against the REAL daemon (.build/debug/autowud): tokens, MUNGE credentials, notices.

A daemon in its default configuration (``RealDaemon(..., anonymous=False)``) takes no job without a token or a
MUNGE credential, and publishes only notices (id, version, incarnation) for such jobs: the client fetches the
state with its token. The MUNGE tests run a private munged (its own socket and key in a temporary directory,
as tests/slurm/lib/cluster.sh does) and need root (munged, and ``runuser`` for another uid's credential).
"""

from __future__ import annotations

import math
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import zmq

import real_daemon as rd
from autowu import ProtocolError, RankClient
from autowu import _munge
from autowu import client as ac
from autowu._proto import autowu_pb2 as pb
from autowu.env import JobEnvironment, choose_auth
from autowu.errors import JobIdentityError

_MISSING = rd.missing_reason()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

TRACE = rd.REPO / "traces" / "digits_bs128_seed0_spe12_ep80_W960.csv"
E, T = 12, 1920
TOKEN = "access-token-" + "a" * 20


def load_trace() -> List[float]:
    import csv
    with open(TRACE, newline="") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


LOSSES = load_trace() if TRACE.exists() else []


def bits(x: float) -> str:
    return struct.pack(">d", x).hex()


@pytest.fixture(autouse=True)
def no_auth_env(monkeypatch):
    """No test sees the machine's AUTOWU_AUTH / AUTOWU_MUNGE_SOCKET (conftest clears the other variables)."""
    for name in ("AUTOWU_AUTH", "AUTOWU_MUNGE_SOCKET"):
        monkeypatch.delenv(name, raising=False)


def client(daemon: rd.RealDaemon, job: str, **kw) -> RankClient:
    kw.setdefault("rank", 0)
    kw.setdefault("world_size", 1)
    kw.setdefault("total_wait", 60.0)
    kw.setdefault("request_timeout", 1.0)
    kw.setdefault("batch_size", 4)
    kw.setdefault("solver", "fast")
    return RankClient(E, T, job_id=job, **daemon.endpoints(), **kw)


def run_to_decision(c: RankClient, loss=lambda t: LOSSES[t], wait_for_news: bool = True) -> List[float]:
    """lr(t), report(t) until a few epochs past the switch. At each epoch end the rank waits (up to 5 s) for the
    event of the epoch's verdict, taking it with ``permits()``: outside any request, so a notice is fetched by
    its own Snapshot, and the gates rarely wait."""
    lrs = []
    for t in range(T):
        lrs.append(c.lr(t))
        c.report(t, loss(t))
        if c.plan.final and t >= c.state.decision.step + 2 * E:
            break
        if wait_for_news and (t + 1) % E == 0 and not c.plan.final:
            seen = c.stats["notices"] + c.stats["events_applied"]
            c.flush()
            end = time.monotonic() + 5.0
            while c.stats["notices"] + c.stats["events_applied"] == seen and time.monotonic() < end:
                c.permits(t + 1)
                time.sleep(0.002)
    return lrs


def counters(daemon: rd.RealDaemon, token: str) -> Dict[str, int]:
    return dict(ac.status("", token=token, control=daemon.control, timeout=10.0).daemon.counters)


# ==================================================================== tokens, notices (no MUNGE needed)

@pytest.fixture(scope="module")
def anonymous_run(tmp_path_factory):
    """The reference: the trace on a daemon that takes anonymous jobs (full-state events)."""
    assert LOSSES, f"{TRACE} is missing"
    daemon = rd.RealDaemon(tmp_path_factory.mktemp("anonymous") / "data")
    try:
        with client(daemon, "trace", auth="none") as c:
            lrs = run_to_decision(c)
            return dict(lrs=lrs, state=c.state, stats=dict(c.stats))
    finally:
        daemon.stop()


@pytest.fixture
def protected(tmp_path):
    """A daemon in its default configuration: every job needs a token or a MUNGE credential."""
    daemon = rd.RealDaemon(tmp_path / "data", anonymous=False)
    yield daemon
    daemon.stop()


def test_a_rank_without_token_gets_the_daemons_refusal_verbatim(protected):
    with pytest.raises(ProtocolError) as caught:
        client(protected, "no-token")
    e = caught.value
    assert e.code == pb.ERROR_UNAUTHORIZED
    # the daemon's message says what to do; the client adds what it sent and why (auto, no Slurm: nothing)
    for what in ("AUTOWU_TOKEN", "`autowu token`", "AUTOWU_AUTH=munge", "--allow-anonymous"):
        assert what in e.message
    assert "sent no token and no MUNGE credential (AUTOWU_AUTH=auto" in str(e)
    assert e.message.startswith('job "no-token" brings no token and no MUNGE credential')


def test_a_token_job_runs_on_notices_and_decides_as_the_anonymous_one(protected, anonymous_run):
    with client(protected, "trace", token=TOKEN) as c:
        assert c.auth == "token" and c.job_id == "trace"
        lrs = run_to_decision(c)
        state, stats = c.state, dict(c.stats)
    # every event of the job was a notice; the states came by Snapshot (the fetches and the gates' replies)
    assert stats["notices"] > 0 and stats["events_applied"] == 0 and stats["events_stale"] == 0
    assert stats["notice_fetches"] >= 10, stats
    assert anonymous_run["stats"]["notices"] == 0 and anonymous_run["stats"]["events_applied"] > 0
    # the same decision, the same LRs bit for bit
    reference = anonymous_run["state"]
    assert state.HasField("decision") and state.decision.reason == reference.decision.reason
    assert (state.decision.epoch, state.decision.step) == (reference.decision.epoch, reference.decision.step)
    assert bits(state.decision.learning_rate) == bits(reference.decision.learning_rate)
    assert [bits(x) for x in lrs] == [bits(x) for x in anonymous_run["lrs"]]
    assert state.plan == reference.plan


def test_a_wrong_token_can_neither_register_report_expire_nor_read(protected):
    job = "guarded"
    owner = client(protected, job, token=TOKEN)
    try:
        for t in range(2 * E):  # a few losses reach the daemon
            owner.lr(t)
            owner.report(t, LOSSES[t])
        owner.flush()
        deadline = time.monotonic() + 10
        while True:  # both epochs tested: the job's state stays as it is now, unless something reaches it
            before = owner.status().jobs[0]
            if before.steps_seen == 2 * E and before.last_verdict.epoch == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert before.steps_seen == 2 * E and before.last_verdict.epoch == 1

        # register
        with pytest.raises(ProtocolError) as caught:
            client(protected, job, token="not-the-token")
        assert caught.value.code == pb.ERROR_UNAUTHORIZED
        assert "this one does not match" in caught.value.message

        # report: infinite losses under the wrong token are dropped (and counted)
        dropped = counters(protected, TOKEN).get("ingest.unauthorized", 0)
        ctx = zmq.Context()
        pub = ctx.socket(zmq.XPUB)
        try:
            pub.setsockopt(zmq.LINGER, 1000)
            pub.connect(protected.ingest)
            assert pub.poll(5000, zmq.POLLIN), "the daemon's ingest socket did not subscribe"
            pub.recv()
            batch = pb.LossBatch(protocol_version=ac.PROTOCOL_VERSION, job_id=job, token="not-the-token", rank=0,
                                 first_step=2 * E, losses=[math.inf] * E)
            pub.send_multipart([f"loss/{job}/".encode(), batch.SerializeToString()])
            deadline = time.monotonic() + 10
            while counters(protected, TOKEN).get("ingest.unauthorized", 0) == dropped:
                assert time.monotonic() < deadline, "ingest.unauthorized did not rise"
                time.sleep(0.05)
        finally:
            pub.close()
            ctx.term()

        # expire, read
        for call in (lambda: ac.expire_job(job, token="not-the-token", control=protected.control),
                     lambda: ac.status(job, token="not-the-token", control=protected.control),
                     lambda: ac.status(job, token="", auth="none", control=protected.control)):
            with pytest.raises(ProtocolError) as caught:
                call()
            assert caught.value.code == pb.ERROR_UNAUTHORIZED and f'job "{job}" is not yours' in caught.value.message
        # every job: the wrong token sees none of them
        assert [j.job_id for j in ac.status("", token="not-the-token", control=protected.control).jobs] == []

        # nothing of it reached the job: its losses, its state are the owner's
        after = ac.status(job, token=TOKEN, control=protected.control).jobs[0]
        assert after.steps_seen == before.steps_seen and after.version == before.version
        assert after.incarnation == before.incarnation
        # and the owner may expire it
        assert ac.expire_job(job, token=TOKEN, control=protected.control).job_id == job
    finally:
        owner.close()


def test_auth_settings_are_checked():
    env = JobEnvironment(job_id="j", token="t", auth="none")
    with pytest.raises(JobIdentityError, match="AUTOWU_AUTH=none"):
        choose_auth(env, {})
    with pytest.raises(JobIdentityError, match="AUTOWU_TOKEN"):
        choose_auth(JobEnvironment(job_id="j", auth="token"), {})
    with pytest.raises(JobIdentityError, match="AUTOWU_AUTH"):
        JobEnvironment(job_id="j", auth="kerberos")
    assert choose_auth(JobEnvironment(job_id="j", token="t"), {"SLURM_JOB_ID": "1"})[0] == "token"
    assert choose_auth(JobEnvironment(job_id="j"), {})[0] == "none"
    # the job's private daemon (ipc:// in a 0700 directory) needs no MUNGE, Slurm or not
    assert choose_auth(JobEnvironment(job_id="j"), {"SLURM_JOB_ID": "1"}, private_daemon=True)[0] == "none"
    # MUNGE through a socket where no munged listens: auto falls back (and says why), munge fails loudly
    env = JobEnvironment(job_id="j", munge_socket="/nonexistent/munge.socket")
    mode, why = choose_auth(env, {"SLURM_JOB_ID": "1"})
    assert mode == "none" and "/nonexistent/munge.socket" in why
    with pytest.raises(_munge.MungeError, match="/nonexistent/munge.socket"):
        choose_auth(env.with_overrides(auth="munge"), {})
    assert _munge.job_id_for("run", uid=1000) == "u1000:run" and _munge.job_id_for("u1000:run", uid=1000) == "u1000:run"
    assert _munge.job_id_for("u1000:run", uid=7) == "u7:u1000:run"


# ==================================================================== MUNGE (a private munged)

def _munge_missing() -> Optional[str]:
    if os.geteuid() != 0:
        return "the MUNGE tests run munged and `runuser` (another uid's credential): they need root"
    for tool in ("/usr/sbin/munged", shutil.which("munge"), shutil.which("runuser")):
        if not tool or not os.access(tool, os.X_OK):
            return f"missing {tool or 'munge/runuser'}: apt-get install munge"
    try:
        _munge._library()  # noqa: SLF001 - libmunge itself, munged aside
    except _munge.MungeError as e:
        return str(e)
    return None


class Munged:
    """munged with its own socket and key in a temporary directory (tests/slurm/lib/cluster.sh's way)."""

    def __init__(self) -> None:
        # munged wants every directory up to its socket searchable by all (uid 65534 makes credentials too)
        self.dir = Path(tempfile.mkdtemp(prefix="autowu-munge-"))
        self.dir.chmod(0o755)
        self.socket = str(self.dir / "munge.sock")
        key = self.dir / "munge.key"
        key.write_bytes(secrets.token_bytes(128))
        key.chmod(0o400)
        self.pid_file = self.dir / "munged.pid"
        self.log = self.dir / "munged.log"
        subprocess.run(["/usr/sbin/munged", f"--socket={self.socket}", f"--key-file={key}", f"--log-file={self.log}",
                        f"--pid-file={self.pid_file}", f"--seed-file={self.dir / 'munged.seed'}"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=True)
        self.pid = 0
        deadline = time.monotonic() + 15
        while not self.pid:
            try:
                self.pid = int(self.pid_file.read_text().strip() or 0)
            except (FileNotFoundError, ValueError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"munged wrote no pid file: {self.log_text()}")
                time.sleep(0.05)
        while _munge.unavailable_reason(self.socket) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"munged does not answer: {_munge.unavailable_reason(self.socket)}")
            time.sleep(0.05)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except FileNotFoundError:
            return ""

    def credential_as(self, user: str, payload: str) -> str:
        """A credential made by ``user`` (``runuser``) through this munged."""
        out = subprocess.run(["runuser", "-u", user, "--", "munge", "-S", self.socket, "-s", payload],
                             capture_output=True, text=True, timeout=30, check=True)
        return out.stdout.strip()

    def stop(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            # munged does not always act on SIGTERM promptly, and it is nobody's child here: SIGKILL after 2 s.
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and Path(f"/proc/{self.pid}").exists():
                time.sleep(0.05)
            if Path(f"/proc/{self.pid}").exists():
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def munged():
    reason = _munge_missing()
    if reason:
        pytest.skip(reason)
    m = Munged()
    yield m
    m.stop()


@pytest.fixture
def munge_daemon(munged, tmp_path, monkeypatch):
    """The default configuration, checking credentials with the private munged; clients use it too."""
    monkeypatch.setenv("AUTOWU_MUNGE_SOCKET", munged.socket)
    daemon = rd.RealDaemon(tmp_path / "data", anonymous=False, extra_args=["--munge-socket", munged.socket])
    yield daemon
    daemon.stop()


def register_reply(daemon: rd.RealDaemon, job: str, credential: str, token: str = "") -> pb.Reply:
    body = pb.Register(job_id=job, token=token, rank=0, spec=ac.build_spec(E, T, 1), munge_credential=credential)
    return ac.daemon_request("register", body, control=daemon.control, timeout=10.0)


def test_two_munge_ranks_of_a_slurm_job_share_it(munge_daemon, monkeypatch):
    # auto under Slurm, no token: MUNGE; the job id is u<uid>:slurm-<id>
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    uid = os.getuid()
    results: Dict[int, dict] = {}

    def rank(r: int) -> None:
        try:
            with RankClient(E, T, rank=r, world_size=2, batch_size=4, solver="fast", total_wait=90.0,
                            **munge_daemon.endpoints()) as c:
                lrs = run_to_decision(c, loss=lambda t: LOSSES[t] + (r - 0.5) * 2.0 ** -20, wait_for_news=False)
                results[r] = dict(lrs=lrs, auth=c.auth, job=c.job_id, token=c.token, state=c.state,
                                  stats=dict(c.stats))
        except BaseException as e:  # noqa: BLE001 - reported below
            results[r] = dict(error=e)

    threads = [threading.Thread(target=rank, args=(r,), daemon=True) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert all("error" not in results[r] for r in range(2)), results
    a, b = results[0], results[1]
    assert a["auth"] == b["auth"] == "munge"
    assert a["job"] == b["job"] == f"u{uid}:slurm-4242"
    # the token the daemon made for the job, the same for both ranks
    assert a["token"] and a["token"] == b["token"]
    assert [bits(x) for x in a["lrs"]] == [bits(x) for x in b["lrs"]]
    assert a["state"].HasField("decision") and a["state"].decision == b["state"].decision
    assert a["stats"]["events_applied"] == 0 and a["stats"]["notices"] > 0
    # the owner reads it with a credential alone, no token
    state = ac.status(a["job"], token="", auth="munge", control=munge_daemon.control).jobs[0]
    assert state.decision == a["state"].decision


def test_another_uid_can_neither_register_the_job_nor_squat_the_owners_ids(munge_daemon, munged):
    uid = os.getuid()
    with client(munge_daemon, "mine", auth="munge") as c:
        job = c.job_id
        assert job == f"u{uid}:mine" and c.token
        # nobody (65534) with its own, valid credential for the job id
        reply = register_reply(munge_daemon, job, munged.credential_as("nobody", job))
        assert reply.WhichOneof("body") == "error" and reply.error.code == pb.ERROR_UNAUTHORIZED
        assert f"owner, uid {uid} (this one is uid 65534)" in reply.error.message
        # nor a new id of the owner's
        fresh = f"u{uid}:not-yet-registered"
        reply = register_reply(munge_daemon, fresh, munged.credential_as("nobody", fresh))
        assert reply.error.code == pb.ERROR_UNAUTHORIZED
        assert f'belong to uid {uid}' in reply.error.message and "(this one is uid 65534)" in reply.error.message
        # while its credential is good for its own ids
        own = "u65534:theirs"
        reply = register_reply(munge_daemon, own, munged.credential_as("nobody", own))
        assert reply.WhichOneof("body") == "job" and reply.job_token
        # a credential for another payload is no credential for this job
        reply = register_reply(munge_daemon, job, _munge.encode("something-else", munged.socket))
        assert reply.error.code == pb.ERROR_UNAUTHORIZED and "not for" in reply.error.message


def test_a_replayed_credential_is_refused(munge_daemon, munged):
    job = f"u{os.getuid()}:replay"
    credential = _munge.encode(job, munged.socket)
    first = register_reply(munge_daemon, job, credential)
    assert first.WhichOneof("body") == "job" and first.job_token
    again = register_reply(munge_daemon, job, credential)
    assert again.WhichOneof("body") == "error" and again.error.code == pb.ERROR_UNAUTHORIZED
    assert "Replayed credential" in again.error.message and "fresh" in again.error.message


def test_lazy_pirate_resends_with_a_fresh_credential(munge_daemon):
    """The daemon stops (SIGSTOP) with the rank's connection up: the first send waits in the daemon's socket
    buffer, Lazy Pirate resends on new connections; once the daemon goes on, it reads the first send (its
    credential used) and then the last one. Had the resend carried the same credential, munged would refuse it
    as replayed."""
    c = client(munge_daemon, "pirate", auth="munge", request_timeout=0.3, total_wait=30.0)
    try:
        token = c.token
        for what, call in (("register", lambda: c._register(time.monotonic() + 30)),  # noqa: SLF001 - the path to test
                           ("status", lambda: c.status(timeout=30))):
            done: Dict[str, object] = {}
            before = counters(munge_daemon, token)
            retries = c.stats["retries"]
            munge_daemon.process.send_signal(signal.SIGSTOP)
            try:
                worker = threading.Thread(target=lambda: done.update(result=_catch(call)), daemon=True)
                worker.start()
                time.sleep(1.2)  # several attempts of 0.3 s
            finally:
                munge_daemon.process.send_signal(signal.SIGCONT)
            worker.join(30)
            assert not isinstance(done.get("result"), BaseException), (what, done)
            assert c.stats["retries"] >= retries + 2, what
            after = counters(munge_daemon, token)
            # the first send and the last were both read and answered, none refused
            assert after["control.requests"] - before["control.requests"] >= 1 + 2, (what, before, after)
            assert after.get("control.error.6", 0) == before.get("control.error.6", 0), (what, after)
        assert c.token == token and c.stats["registers"] == 2
    finally:
        c.close()


def _catch(call):
    try:
        return call()
    except BaseException as e:  # noqa: BLE001 - reported by the test
        return e


def test_munge_mode_fails_loudly_without_munged(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOWU_MUNGE_SOCKET", str(tmp_path / "no-munged.sock"))
    with pytest.raises(_munge.MungeError, match=re.escape(str(tmp_path / "no-munged.sock"))):
        RankClient(E, T, job_id="j", auth="munge", control="tcp://127.0.0.1:1", ingest="tcp://127.0.0.1:2",
                   events="tcp://127.0.0.1:3", connect=False)


def test_a_munge_rank_follows_the_job_into_its_next_incarnation(munge_daemon):
    """The job expires and another rank registers it again: a new incarnation with a new token. The first
    rank's notice of it is fetched with the old token, refused, and a Register with a fresh credential gets
    the job's new token and state."""
    first = client(munge_daemon, "reborn", auth="munge")
    try:
        job, old_token, old_incarnation = first.job_id, first.token, first.incarnation
        ac.expire_job(job, token="", auth="munge", control=munge_daemon.control)
        with client(munge_daemon, "reborn", auth="munge") as second:
            assert second.incarnation != old_incarnation and second.token != old_token
            deadline = time.monotonic() + 15
            while first.incarnation != second.incarnation:
                assert time.monotonic() < deadline, first.stats
                first.permits(0)
                time.sleep(0.01)
            assert first.token == second.token and first.stats["incarnations"] == 1
            assert first.stats["registers"] == 2 and first.lr(0) == second.lr(0)
    finally:
        first.close()
