"""The platform wheel as a pip user meets it: installed into a fresh virtual environment from a shell with
nothing but PATH=/usr/bin:/bin (no Swift toolchain, no repository on any path), its `autowud` and `autowu`
commands and `autowu.__version__` report the VERSION file's string, the daemon's Ping reports it too, and the
bundled binaries need nothing beyond glibc (ldd: no libswift*, libzmq, libsodium, libsqlite3, OpenBLAS,
LAPACKE, libgfortran, libstdc++).

Which wheel: $AUTOWU_WHEEL if set; else dist/autowu-<VERSION>-py3-none-manylinux_*_x86_64.whl if it is newer
than every source it is built from (Sources/, Package.swift, VERSION, scripts/build-wheel, scripts/wheel/,
this client's package and pyproject.toml); else, with AUTOWU_TEST_WHEEL=1, scripts/build-wheel builds it
(about 8 minutes from scratch); else the tests are skipped. Installing needs PyPI (protobuf, pyzmq).
"""

import json
import os
import re
import select
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CLIENT = REPO / "clients" / "python"
VERSION = (REPO / "VERSION").read_text(encoding="utf-8").strip()
SOURCES = [REPO / "Sources", REPO / "Package.swift", REPO / "VERSION", REPO / "scripts" / "build-wheel",
           REPO / "scripts" / "wheel", CLIENT / "autowu", CLIENT / "pyproject.toml"]
NOT_BUNDLED = ("libswift", "libdispatch", "libBlocksRuntime", "libFoundation", "libzmq", "libsodium", "libsqlite",
               "libopenblas", "liblapack", "libgfortran", "libquadmath", "libstdc++", "libgssapi", "libkrb5",
               "libpgm", "libnorm", "libbsd", "libicu")


def newest_source_mtime():
    newest = 0.0
    for source in SOURCES:
        paths = [source] if source.is_file() else [p for p in source.rglob("*") if p.is_file()]
        for p in paths:
            if "__pycache__" not in p.parts:
                newest = max(newest, p.stat().st_mtime)
    return newest


def find_wheel():
    if os.environ.get("AUTOWU_WHEEL"):
        return Path(os.environ["AUTOWU_WHEEL"])
    built = sorted((REPO / "dist").glob(f"autowu-{VERSION}-py3-none-manylinux_*_x86_64.whl"),
                   key=lambda p: p.stat().st_mtime)
    if built and built[-1].stat().st_mtime > newest_source_mtime():
        return built[-1]
    if os.environ.get("AUTOWU_TEST_WHEEL") != "1":
        pytest.skip("no wheel in dist/ newer than the sources: run scripts/build-wheel, or set AUTOWU_TEST_WHEEL=1")
    out = subprocess.run([str(REPO / "scripts" / "build-wheel")], stdout=subprocess.PIPE, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def bare_env(home):
    """What `env -i PATH=/usr/bin:/bin` leaves, plus HOME and the machine's proxy/index settings if any."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY",
                 "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run(args, env, **kw):
    # From HOME, not this source tree: `python -c "import autowu"` must find the installed package.
    kw.setdefault("cwd", env["HOME"])
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, **kw)
    assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel():
    return find_wheel()


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """(venv bin directory, bundled _bin directory, environment) after `pip install WHEEL` in a bare shell."""
    home = tmp_path_factory.mktemp("home")
    env = bare_env(home)
    venv_dir = home / "venv"
    run(["env", "-i", *[f"{k}={v}" for k, v in env.items()], "python3", "-m", "venv", venv_dir], env)
    run([venv_dir / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", wheel], env)
    bundled = Path(run([venv_dir / "bin" / "python", "-c",
                        "import autowu, pathlib; print(pathlib.Path(autowu.__file__).parent / '_bin')"], env).strip())
    return venv_dir / "bin", bundled, env


def glibc_floor(binaries):
    found = set()
    for b in binaries:
        found |= {int(m) for m in re.findall(r"GLIBC_2\.([0-9]+)", run(["objdump", "-T", b], os.environ))}
    return max(found)


def test_wheel_is_a_platform_wheel_with_both_binaries(wheel, installed):
    _, bundled, _ = installed
    floor = glibc_floor([bundled / "autowud", bundled / "autowu"])
    assert wheel.name == f"autowu-{VERSION}-py3-none-manylinux_2_{floor}_x86_64.whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = f"autowu-{VERSION}.dist-info"
        assert {"autowu/_bin/autowud", "autowu/_bin/autowu", "autowu/VERSION"} <= names
        assert "Root-Is-Purelib: false" in z.read(f"{info}/WHEEL").decode()
        entry_points = z.read(f"{info}/entry_points.txt").decode()
        assert "autowud = autowu._launch:autowud" in entry_points
        assert "autowu = autowu._launch:autowu" in entry_points
    print(f"{wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB, glibc floor 2.{floor}")


def test_versions_agree(installed):
    bin_dir, _, env = installed
    assert run([bin_dir / "autowud", "--version"], env).strip() == VERSION
    assert run([bin_dir / "autowu", "--version"], env).strip() == VERSION
    assert run([bin_dir / "python", "-c", "import autowu; print(autowu.__version__)"], env).strip() == VERSION


def test_bundled_binaries_need_only_glibc(installed):
    _, bundled, env = installed
    for name in ("autowud", "autowu"):
        assert os.access(bundled / name, os.X_OK)
        out = run(["ldd", bundled / name], env)
        print(f"ldd {name}:\n{out}")
        assert "not found" not in out
        libs = [line.split()[0] for line in out.splitlines() if line.strip()]
        assert not [lib for lib in libs if lib.startswith(NOT_BUNDLED)], libs


def test_daemon_from_the_wheel_reports_the_version(installed, tmp_path):
    bin_dir, _, env = installed
    args = [bin_dir / "autowud", "--data-dir", tmp_path / "data", "--control", "tcp://127.0.0.1:*",
            "--ingest", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*"]
    with open(tmp_path / "autowud.log", "wb") as log:
        daemon = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE, stderr=log,
                                  stdin=subprocess.DEVNULL, env=env)
    try:
        line, deadline = b"", time.monotonic() + 30
        while not line.endswith(b"\n") and time.monotonic() < deadline and daemon.poll() is None:
            if select.select([daemon.stdout], [], [], 0.1)[0]:
                line += os.read(daemon.stdout.fileno(), 4096)
        control = re.search(r"control=(\S+)", line.decode())
        assert control, f"no ready line: {line!r}\n{(tmp_path / 'autowud.log').read_text()[-3000:]}"
        script = f"from autowu import client; print(client.ping(control={control.group(1)!r}).version)"
        assert run([bin_dir / "python", "-c", script], env).strip() == VERSION
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            assert daemon.wait(15) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
            daemon.stdout.close()


TRAIN = """
import json, os, sys
import torch
from autowu import Plan
from autowu.torch import AutoWULR

E, EPOCHS = 8, 50
checkpoint, stop_after = sys.argv[1], int(sys.argv[2])
g = torch.Generator().manual_seed(0)
X = torch.randn(1024, 16, generator=g)
y = (X @ torch.randn(16, 4, generator=g)).argmax(1)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
scheduler = AutoWULR(optimizer, steps_per_epoch=E, total_epochs=EPOCHS)  # nothing else: the embedded default
first = 0
if os.path.exists(checkpoint):
    saved = torch.load(checkpoint, weights_only=False)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    first = saved["epoch"] + 1
log = []
for epoch in range(first, EPOCHS):
    order = torch.randperm(1024, generator=torch.Generator().manual_seed(epoch))
    for b in range(E):
        batch = order[b * 128:(b + 1) * 128]
        log.append((scheduler.last_epoch, optimizer.param_groups[0]["lr"]))
        loss = torch.nn.functional.cross_entropy(model(X[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step(loss)
    if epoch == stop_after:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "epoch": epoch}, checkpoint)
        break
state = scheduler.client.state
plan = Plan.from_proto(state.plan)
decided = state.HasField("decision") and bool(state.decision.reason)
print(json.dumps({"job": scheduler.job_id, "control": scheduler.client.env.control, "steps": [s for s, _ in log],
                  "follows_plan": all(lr == plan.lr(s) for s, lr in log),
                  "decision": [state.decision.reason, state.decision.step] if decided else None}))
scheduler.close()
"""


def test_a_training_run_from_the_wheel_needs_no_daemon_and_resumes(installed, tmp_path):
    """A single-node PyTorch run in the wheel's environment, no daemon started by hand and nothing configured:
    stopped after epoch 20 and resumed from its checkpoint; the warmup switches, every LR the optimizer ran
    is the daemon's final plan's, and the resumed run continues the job (no second warmup)."""
    bin_dir, _, env = installed
    torch_wheels = sorted(Path("/opt/wheels").glob("torch-*.whl"))
    if not torch_wheels:
        pytest.skip("no CPU torch wheel in /opt/wheels (resolving torch from PyPI would pull CUDA)")
    if subprocess.run([str(bin_dir / "python"), "-c", "import torch"], env=env, capture_output=True).returncode:
        run([bin_dir / "pip", "install", "--quiet", "--disable-pip-version-check", torch_wheels[-1]], env)
    work = Path(env["HOME"]) / "project"
    work.mkdir(exist_ok=True)
    (work / "train.py").write_text(TRAIN)
    run_env = dict(env, XDG_STATE_HOME=str(tmp_path / "state"))
    checkpoint = tmp_path / "train.pt"
    outputs = []
    for stop_after in (20, -1):
        out = run([bin_dir / "python", "train.py", checkpoint, stop_after], run_env, cwd=work, timeout=600)
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    first, resumed = outputs
    assert first["job"] == resumed["job"] and first["job"].startswith("local-train-")
    assert first["control"].startswith("ipc://") and resumed["control"].startswith("ipc://")
    assert first["steps"] == list(range(0, 21 * 8)) and resumed["steps"] == list(range(21 * 8, 50 * 8))
    assert first["follows_plan"] and resumed["follows_plan"]
    assert resumed["decision"] is not None, "the warmup did not end"
    print(f"job {resumed['job']}: decision {resumed['decision']}")
