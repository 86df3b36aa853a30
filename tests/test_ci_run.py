""".ci/run's own accounting: CI cannot be green with its live tests skipped.

.ci/run runs here on fake legs: a fake scripts/testbed (TESTBED) brings up leg LEG by
printing DOCKER_HOST=unix:///run/dxt-fake/LEG.sock (or an empty or the default one); a
fake `docker` CLI first on PATH has busybox:local on every leg but `no-busybox` and answers
`version` and `info` from the recorded 20.10 payloads (for the "Tested on" row); the leg's
tests are tests/fixtures/ci/fakeleg.py (LEG_TESTS), whose outcomes the leg's name chooses,
run by the real pytest with the real tests/conftest.py. The whole-suite step is a one-line
stand-in (SUITE). The caller's environment has no CI: .ci/run must set it itself.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE_FIXTURES = ROOT / "tests" / "fixtures" / "engine"

FAKE_TESTBED = """#!/bin/sh
case "$1 $2" in
  "--leg empty-host") echo "DOCKER_HOST=" ;;
  "--leg default-host") echo "DOCKER_HOST=unix:///var/run/docker.sock" ;;
  "--leg "*) echo "testbed: fake leg $2 up" >&2; echo "DOCKER_HOST=unix:///run/dxt-fake/$2.sock" ;;
  "--teardown "*) ;;
  *) exit 2 ;;
esac
"""

FAKE_DOCKER = f"""#!/bin/sh
case "$1 $2" in
  "image inspect") [ "$3" = busybox:local ] && [ "${{DOCKER_HOST%%*no-busybox*}}" ] ;;
  "version --format") cat {ENGINE_FIXTURES}/version.json ;;
  "info --format") cat {ENGINE_FIXTURES}/info.json ;;
  *) exit 1 ;;
esac
"""

FAKE_SUITE = """#!/bin/sh
echo "skips by cause: none"
echo "1 passed in 0.01s"
"""

PLAIN_TEST = "def test_plain():\n    pass\n"
"""A test file outside tests/: no conftest, so no skip accounting."""

RUNS = {  # one .ci/run each, side by side: the fake legs it runs, and their tests
    "green": ("green", "tests/fixtures/ci/fakeleg.py"),
    "bad-tests": ("engine-limits testbed-limit unnamed-skip", "tests/fixtures/ci/fakeleg.py"),
    "bad-legs": ("a-failure empty-host default-host no-busybox", "tests/fixtures/ci/fakeleg.py"),
    "no-accounting": ("no-accounting", "PLAIN"),
}


@dataclass(frozen=True)
class Run:
    rc: int
    out: str
    rows: str

    def leg_line(self, leg: str) -> str:
        return next(line for line in self.out.splitlines() if line.startswith(f"leg {leg}: "))

    @property
    def last_line(self) -> str:
        return self.out.splitlines()[-1]


def run_ci(legs: str, leg_tests: str, tmp: Path) -> Run:
    tmp.mkdir()
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for path, text in (
        (tmp / "testbed", FAKE_TESTBED),
        (tmp / "suite", FAKE_SUITE),
        (bin_dir / "docker", FAKE_DOCKER),
    ):
        path.write_text(text)
        path.chmod(0o755)
    (tmp / "test_plain.py").write_text(PLAIN_TEST)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("CI", "DOCKER_HOST")},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "LEGS": legs,
        "LEGS_DECLINED": "",
        "GUEST": "0",
        "STACKS": "0",
        "TESTBED": str(tmp / "testbed"),
        "SUITE": str(tmp / "suite"),
        "LEG_TESTS": str(tmp / "test_plain.py") if leg_tests == "PLAIN" else leg_tests,
        "PYTHON": sys.executable,
        "TESTED_ON_ROWS": str(tmp / "rows"),
    }
    result = subprocess.run(
        [str(ROOT / ".ci" / "run")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    rows = tmp / "rows"
    return Run(
        result.returncode, result.stdout + result.stderr, rows.read_text() if rows.exists() else ""
    )


@pytest.fixture(name="runs", scope="module")
def fixture_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("ci-run")
    with ThreadPoolExecutor(max_workers=len(RUNS)) as pool:
        futures = {
            name: pool.submit(run_ci, legs, tests, base / name)
            for name, (legs, tests) in RUNS.items()
        }
        return {name: future.result() for name, future in futures.items()}


def test_a_green_leg_counts_its_skips_by_cause(runs: dict[str, Run]) -> None:
    run = runs["green"]
    assert run.rc == 0, run.out
    assert run.leg_line("green").startswith(
        "leg green: 1 passed, 0 failed, skips: 1 engine limit, 1 not applicable here ("
    )
    assert run.last_line == "2 passed, 0 failed"
    (row,) = [line for line in run.rows.splitlines() if line.startswith("| green |")]
    assert row.endswith("| 1 passed, 2 skipped (1 engine limit, 1 not applicable here) |")


@pytest.mark.parametrize(
    ("run", "leg", "said"),
    [
        ("bad-tests", "engine-limits", "REFUSED: nothing passed"),
        ("bad-tests", "testbed-limit", "1 passed, 1 failed"),
        ("bad-tests", "unnamed-skip", "1 passed, 1 failed"),
        ("bad-legs", "a-failure", "1 passed, 1 failed"),
        ("bad-legs", "empty-host", "REFUSED: its DOCKER_HOST line is empty"),
        ("bad-legs", "default-host", "REFUSED: its DOCKER_HOST is the default engine's"),
        ("bad-legs", "no-busybox", "REFUSED: busybox:local is missing on unix:///run/dxt-fake/"),
        ("no-accounting", "no-accounting", "REFUSED: no 'skips by cause:' line"),
    ],
)
def test_a_leg_that_proves_nothing_fails_ci(
    runs: dict[str, Run], run: str, leg: str, said: str
) -> None:
    """Every way a leg could look green without its live tests having run fails CI, and
    the leg's line says which."""
    result = runs[run]
    assert result.rc == 1, result.out
    assert said in result.leg_line(leg)
    assert not result.last_line.endswith(" 0 failed"), result.last_line


def test_under_ci_a_testbed_limit_or_an_unnamed_skip_is_a_failure(runs: dict[str, Run]) -> None:
    """CI comes from .ci/run itself (the caller's environment has none)."""
    out = runs["bad-tests"].out
    assert "CI must not skip this (test-bed limit): test-bed limit: a tool this machine" in out
    assert "CI must not skip this (unnamed): a skip that names no cause" in out


SKIP_CALLS = {"skip", "importorskip"}


def unnamed_skips(path: Path) -> list[str]:
    """`pytest.skip(...)`/`importorskip` calls and `skipif(reason="literal")` marks of one
    test file: each must go through tests/conftest.py's helpers or `because(...)`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr in SKIP_CALLS and getattr(node.func.value, "id", "") == "pytest":
            found.append(f"{path.name}:{node.lineno} pytest.{node.func.attr}")
        if node.func.attr == "skipif":
            reason = next((k.value for k in node.keywords if k.arg == "reason"), None)
            if not isinstance(reason, ast.Call):
                found.append(f"{path.name}:{node.lineno} skipif without because(...)")
    return found


def test_every_skip_in_the_suite_names_its_cause() -> None:
    tests = ROOT / "tests"
    found = [
        hit
        for path in sorted(tests.glob("*.py"))
        if path.name != "conftest.py"
        for hit in unnamed_skips(path)
    ]
    assert found == []
