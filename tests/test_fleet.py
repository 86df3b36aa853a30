"""A fleet on one machine: three Docker engines, one exporter each, one real Prometheus.

The deployment model of docs/deploy.md in miniature: every engine has its own exporter,
and Prometheus finds the exporters through file-based service discovery. Engine N runs
N busybox containers, so each instance has a different answer. The engines are separate
dockerd processes with their own socket, data root, exec root and containerd, and no
bridge or iptables rules, so they leave the machine's main engine alone. Everything is
stopped and removed afterwards, even when a step fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from conftest import engine_answers, free_port, skip_testbed_limit

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
ENGINES = 3
EXPORTER = Path(sys.executable).parent / "docker-exporter"
JOB = "docker-exporter"


def _require(condition: bool, message: str) -> None:
    """Skip without the tools, but fail in CI, like the `live` fixture."""
    if not condition:
        skip_testbed_limit(message)


def _wait(what: str, check: Callable[[], Any], timeout: float, log: Path | None = None) -> Any:
    """Poll `check` until it returns a truthy value; the deadline only guards a hang."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            tail = ""
            if log is not None and log.exists():
                tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise AssertionError(f"timed out waiting for {what}{tail}")
        time.sleep(0.2)


@dataclass
class Engine:
    """One extra dockerd under `base/N`."""

    number: int
    base: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.base / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log(self) -> Path:
        return self.base / "dockerd.log"

    def docker(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["docker", "--host", self.host, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"engine {self.number}: docker {args}: {result.stderr.strip()}")
        return result.stdout.strip()

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        config = self.base / "daemon.json"
        config.write_text("{}\n")  # not /etc/docker/daemon.json of the main engine
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    # Its own network namespace: with --bridge=none, dockerd deletes the
                    # interface docker0 of its namespace, which must not be the host's.
                    "unshare",
                    "--net",
                    "--",
                    "dockerd",
                    "--host",
                    self.host,
                    "--data-root",
                    str(self.base / "data"),
                    "--exec-root",
                    str(self.base / "exec"),
                    "--pidfile",
                    str(self.base / "docker.pid"),
                    "--config-file",
                    str(config),
                    "--bridge=none",
                    "--iptables=false",
                    "--ip6tables=false",
                    "--ip-masq=false",
                    "--ip-forward=false",
                    "--containerd-namespace",
                    f"dxt-fleet-{self.number}",
                    "--containerd-plugins-namespace",
                    f"dxt-fleet-{self.number}-plugins",
                    "--shutdown-timeout",
                    "2",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        def answers() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"dockerd {self.number} exited:\n{self.log.read_text()}")
            return self.docker("version", "--format", "{{.Server.Version}}", check=False) != ""

        _wait(f"dockerd {self.number}", answers, 60, self.log)

    def stop(self) -> None:
        """Remove the containers, SIGTERM dockerd and wait; SIGKILL only if it hangs."""
        if self.process is None:
            return
        if self.process.poll() is None:
            ids = self.docker("ps", "-aq", check=False).split()
            if ids:
                self.docker("rm", "--force", *ids, check=False)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        # dockerd stops the containerd it started; if dockerd was killed, stop it here.
        pidfile = self.base / "exec" / "containerd" / "containerd.pid"
        if pidfile.exists():
            _stop_pid(int(pidfile.read_text().strip() or 0), str(self.base))


def _stop_pid(pid: int, marker: str) -> None:
    """SIGTERM a leftover process of ours (its command line names `marker`), then wait."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if pid <= 0 or not cmdline.exists() or marker not in cmdline.read_text(errors="replace"):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def _unmount_under(path: Path) -> None:
    """Unmount what the engines left below `path` (overlays, netns), deepest first."""
    prefix = str(path.resolve()) + "/"
    mounts = [
        line.split()[4].replace("\\040", " ")
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ]
    for mount in sorted({m for m in mounts if m.startswith(prefix)}, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)


def _host_bridge() -> bool:
    """Whether the host has the main engine's default bridge, docker0."""
    return Path("/sys/class/net/docker0").exists()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Fleet:
    base: Path
    engines: list[Engine] = field(default_factory=list)
    exporters: list[subprocess.Popen[bytes]] = field(default_factory=list)
    prometheus: subprocess.Popen[bytes] | None = None
    prometheus_url: str = ""
    instances: dict[int, str] = field(default_factory=dict)
    """Engine number -> the `instance` label of its exporter."""

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def by_instance(self, promql: str) -> dict[str, float]:
        return {
            row["metric"].get("instance", ""): float(row["value"][1]) for row in self.query(promql)
        }

    def stop(self) -> None:
        """Stop everything, each step even when an earlier one failed; then remove the files."""
        steps: list[Callable[[], None]] = [partial(_stop, e) for e in self.exporters]
        if self.prometheus is not None:
            steps.append(partial(_stop, self.prometheus))
        steps.extend(engine.stop for engine in self.engines)
        steps.append(partial(_unmount_under, self.base))
        steps.append(partial(shutil.rmtree, self.base, ignore_errors=True))
        errors = []
        for step in steps:
            try:
                step()
            except Exception as exc:  # keep cleaning up; report the first failure
                errors.append(exc)
        if errors:
            raise errors[0]


def _start_exporter(fleet: Fleet, engine: Engine) -> None:
    port = free_port()
    log = (fleet.base / f"exporter-{engine.number}.log").open("wb")
    with log:
        fleet.exporters.append(
            subprocess.Popen(
                [
                    str(EXPORTER),
                    "--docker.host",
                    engine.host,
                    "--web.listen-address",
                    f"127.0.0.1:{port}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    fleet.instances[engine.number] = f"127.0.0.1:{port}"


def _ready(address: str) -> bool:
    with urllib.request.urlopen(f"http://{address}/-/ready", timeout=2) as resp:
        return bool(resp.status == 200)


def _start_prometheus(fleet: Fleet) -> None:
    targets = fleet.base / "targets.json"
    targets.write_text(
        json.dumps(
            [
                {"targets": [address], "labels": {"engine": str(number)}}
                for number, address in fleet.instances.items()
            ]
        )
    )
    config = fleet.base / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {
                    "scrape_interval": "1s",
                    "scrape_timeout": "1s",
                    "evaluation_interval": "1s",
                },
                "scrape_configs": [
                    {
                        "job_name": JOB,
                        "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "1s"}],
                    }
                ],
            }
        )
    )
    port = free_port()
    log = fleet.base / "prometheus.log"
    with log.open("wb") as out:
        fleet.prometheus = subprocess.Popen(
            [
                "prometheus",
                "--config.file",
                str(config),
                "--storage.tsdb.path",
                str(fleet.base / "tsdb"),
                "--web.listen-address",
                f"127.0.0.1:{port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    fleet.prometheus_url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        url = f"{fleet.prometheus_url}/-/ready"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)

    _wait("Prometheus", ready, 30, log)


@pytest.fixture(name="fleet", scope="module")
def fixture_fleet() -> Iterator[Fleet]:
    """Three engines with 1, 2 and 3 running containers, their exporters, one Prometheus."""
    _require(os.geteuid() == 0, "the fleet test starts dockerd: run as root")
    for tool in ("dockerd", "docker", "unshare", "prometheus"):
        _require(shutil.which(tool) is not None, f"{tool} not installed (run scripts/testbed)")
    _require(EXPORTER.exists(), f"{EXPORTER} missing (pip install -e .)")
    _require(engine_answers(), "no live Docker Engine with busybox:local (run scripts/testbed)")
    # Short paths: unix socket paths (containerd's under the exec root) are limited.
    fleet = Fleet(Path(tempfile.mkdtemp(prefix="dxt-fleet-", dir="/tmp")))
    had_bridge = _host_bridge()
    try:
        fleet.engines = [Engine(n, fleet.base / str(n)) for n in range(1, ENGINES + 1)]
        for engine in fleet.engines:
            engine.start()
        image = fleet.base / "busybox.tar"
        subprocess.run(
            ["docker", "save", "--output", str(image), "busybox:local"], check=True, timeout=60
        )
        for engine in fleet.engines:
            engine.wait_ready()
            engine.docker("load", "--quiet", "--input", str(image))
            for index in range(engine.number):
                engine.docker(
                    "run",
                    "--detach",
                    "--network",
                    "none",
                    "--stop-timeout",
                    "1",
                    "--name",
                    f"dxt-fleet-{engine.number}-{index}",
                    "busybox:local",
                    "sleep",
                    "600",
                )
            _start_exporter(fleet, engine)
        for engine in fleet.engines:
            address = fleet.instances[engine.number]
            _wait(f"exporter of engine {engine.number}", lambda a=address: _ready(a), 30)
        _start_prometheus(fleet)
        yield fleet
    finally:
        fleet.stop()
        # dockerd --bridge=none deletes docker0 of its network namespace: the engines run
        # in their own, and the main engine's bridge must survive them.
        assert _host_bridge() or not had_bridge, "the host's docker0 was removed"


def test_prometheus_scrapes_one_docker_up_per_engine(fleet: Fleet) -> None:
    """docker_up has one series per engine, with distinct instance labels, each 1."""
    expected = dict.fromkeys(fleet.instances.values(), 1.0)
    _wait(
        "docker_up == 1 from every exporter",
        lambda: fleet.by_instance(f'docker_up{{job="{JOB}"}}') == expected,
        30,
    )
    rows = fleet.query(f'docker_up{{job="{JOB}"}}')
    assert len(rows) == ENGINES
    assert {row["metric"]["instance"] for row in rows} == set(fleet.instances.values())


def test_running_containers_counted_per_instance(fleet: Fleet) -> None:
    """count by (instance) of running containers is what each engine runs: 1, 2 and 3."""
    expected = {address: float(number) for number, address in fleet.instances.items()}
    query = 'count by (instance) (docker_container_state{state="running"} == 1)'
    _wait("running containers per instance", lambda: fleet.by_instance(query) == expected, 30)


def _groups_by_instance(expr: str) -> bool:
    """The outermost aggregation keeps `instance`: the panel has one row per host."""
    head = expr.split("(", 1)[0]
    if " by " not in f" {head} ":
        return False
    labels = expr.split("(", 2)[1].split(")", 1)[0]
    return "instance" in [label.strip() for label in labels.split(",")]


def test_fleet_dashboard_queries_give_one_row_per_instance(fleet: Fleet) -> None:
    """Every Fleet dashboard query that groups by instance returns one row per engine."""
    generate = ROOT / "dashboards" / "generate.py"
    spec = importlib.util.spec_from_file_location("fleet_dashboards_generate", generate)
    assert spec is not None
    assert spec.loader is not None
    dashboards = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dashboards)
    queries = [
        (panel, dashboards.substitute(expr, {"__rate_interval": "30s"}))
        for title, panel, expr in dashboards.all_queries(include_variables=True)
        if title.endswith("Fleet")
    ]
    grouped = [(panel, expr) for panel, expr in queries if _groups_by_instance(expr)]
    assert grouped, "no Fleet query groups by instance"
    expected = set(fleet.instances.values())

    def rows_per_instance(expr: str) -> list[str]:
        return sorted(row["metric"].get("instance", "") for row in fleet.query(expr))

    # rate() needs two stats samples of each container; wait for the slowest query.
    for panel, expr in grouped:
        try:
            _wait(f"{panel}: {expr}", lambda e=expr: set(rows_per_instance(e)) == expected, 45)
        except AssertionError:
            raise AssertionError(
                f"{panel!r}: {expr}\nrows: {fleet.query(expr)}\nexpected instances {expected}"
            ) from None
        assert rows_per_instance(expr) == sorted(expected), f"{panel!r}: {expr}"
    # The rest (versions, kernels, the job variable) answer too; ALERTS stays empty here.
    for panel, expr in queries:
        if (panel, expr) not in grouped and "ALERTS" not in expr:
            assert fleet.query(expr), f"{panel!r} returns nothing: {expr}"
