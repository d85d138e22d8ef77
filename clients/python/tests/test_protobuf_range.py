"""The client's protobuf range, at both ends: the protocol's vector checks (tests/test_vectors.py) in fresh
virtual environments holding only the oldest and then the newest protobuf that pyproject.toml allows, pyzmq,
pytest and the client (no system site-packages). Those two need PyPI and take minutes (4 min on a busy
2-core machine): they run when AUTOWU_TEST_PROTOBUF_RANGE=1 or AUTOWU_TEST_WHEEL=1 (scripts/test's opt-in
packaging stage), and are skipped otherwise.

The floor is set by the generated code (autowu/_proto/autowu_pb2.py: "Protobuf Python Version: X"): the
runtime refuses to load gencode newer than itself, so the lower bound must be at least X (checked always).
"""

import os
import re
import subprocess
import venv
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[1]
VECTOR_TESTS = CLIENT / "tests" / "test_vectors.py"


def protobuf_requirement():
    text = (CLIENT / "pyproject.toml").read_text(encoding="utf-8")
    found = re.findall(r'"protobuf\s*([^"]*)"', text)
    assert len(found) == 1, f"expected one protobuf requirement in pyproject.toml, found {found}"
    spec = found[0].replace(" ", "")
    lower = re.search(r">=([0-9][0-9.]*)", spec)
    assert lower, f"the protobuf requirement {spec!r} has no lower bound"
    return spec, lower.group(1)


def gencode_version():
    header = (CLIENT / "autowu" / "_proto" / "autowu_pb2.py").read_text(encoding="utf-8")
    return re.search(r"Protobuf Python Version: ([0-9.]+)", header).group(1)


def as_tuple(version):
    return tuple(int(x) for x in version.split("."))


def test_floor_is_not_below_the_gencode():
    _, lower = protobuf_requirement()
    assert as_tuple(lower) >= as_tuple(gencode_version()), (
        f"protobuf>={lower} admits runtimes older than the generated code ({gencode_version()})")


OPTED_IN = "1" in (os.environ.get("AUTOWU_TEST_PROTOBUF_RANGE"), os.environ.get("AUTOWU_TEST_WHEEL"))


@pytest.mark.skipif(not OPTED_IN, reason="needs PyPI and minutes: set AUTOWU_TEST_PROTOBUF_RANGE=1")
@pytest.mark.parametrize("end", ["oldest", "newest"])
def test_vectors_at_each_end_of_the_range(end, tmp_path):
    spec, lower = protobuf_requirement()
    requirement = f"protobuf=={lower}" if end == "oldest" else f"protobuf{spec}"
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}

    def run(*args, **kw):
        result = subprocess.run([str(python), *args], capture_output=True, text=True, env=env, **kw)
        assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    run("-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement, "pyzmq>=25", "pytest")
    run("-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", str(CLIENT))
    installed = run("-c", "import google.protobuf as p; print(p.__version__)").strip()
    if end == "oldest":
        assert installed == lower
    print(f"{end} allowed protobuf ({requirement}): {installed}")
    # From outside the source tree, so `import autowu` is the installed client.
    out = run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(VECTOR_TESTS), cwd=tmp_path)
    print(out.strip().splitlines()[-1])
