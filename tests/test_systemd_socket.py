"""--web.systemd-socket: the exporter started by systemd-socket-activate, serving on the
sockets it passes (LISTEN_FDS), against the engine under test."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from conftest import TESTBED_LIMIT, because, engine_host, skip_testbed_limit, value, wait_for

from exporter.web.systemd import SocketActivationError, listen_sockets

ACTIVATE = shutil.which("systemd-socket-activate")
DEPLOY = Path(__file__).parent.parent / "deploy" / "systemd"
needs_activate = pytest.mark.skipif(
    ACTIVATE is None,
    reason=because(
        TESTBED_LIMIT, "systemd-socket-activate missing (scripts/testbed installs systemd)"
    ),
)


async def get(path: Path, url: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path))) as session,
        session.get(f"http://exporter{url}") as response,
    ):
        return response.status, await response.text()


async def activated(*listen: str, extra: tuple[str, ...] = ()) -> asyncio.subprocess.Process:
    """systemd-socket-activate listening on `listen`, running the exporter on the first
    connection (it execs in place: the process is the exporter then)."""
    assert ACTIVATE is not None
    args = [arg for address in listen for arg in ("-l", address)]
    return await asyncio.create_subprocess_exec(
        ACTIVATE, *args, sys.executable, "-m", "exporter", "--web.systemd-socket",
        "--web.listen-address", "192.0.2.1:9",  # not this host's: binding it would fail
        "--docker.host", engine_host(), *extra,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )  # fmt: skip


async def stop(process: asyncio.subprocess.Process) -> str:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    return stderr.decode(errors="replace")


@needs_activate
async def test_serves_on_every_socket_systemd_passes(tmp_path: Path) -> None:
    """Two unix sockets passed: the first connection starts the exporter (queued, not
    refused), both sockets serve it, and --web.listen-address is not bound."""
    first, second = tmp_path / "first.sock", tmp_path / "second.sock"
    process = await activated(str(first), str(second))
    try:

        async def listening() -> bool:
            return first.exists() and second.exists()

        await wait_for(listening, "systemd-socket-activate listening")
        status, _ = await get(first, "/-/healthy")  # starts the exporter; waits in the backlog
        assert status == 200

        async def ready() -> bool:
            return (await get(second, "/-/ready"))[0] == 200

        await wait_for(ready, "the exporter synced with the engine, seen on the second socket")
        status, body = await get(first, "/metrics")
        assert status == 200
        assert value(body, "docker_up") == 1
    finally:
        stderr = await stop(process)
    assert f"starting docker-exporter on systemd socket {first}, {second}," in stderr, stderr


@needs_activate
async def test_the_example_socket_unit_activates_the_exporter(tmp_path: Path) -> None:
    """deploy/systemd/docker-exporter.socket: its ListenStream= is what the exporter gets
    (run here through systemd-socket-activate: systemd is not PID 1 in the test bed), and
    it names the service whose variable turns --web.systemd-socket on."""
    unit = (DEPLOY / "docker-exporter.socket").read_text()
    [listen] = re.findall(r"^ListenStream=(\S+)$", unit, re.M)
    assert re.search(r"^Accept=no$", unit, re.M)
    assert re.search(r"^Service=docker-exporter\.service$", unit, re.M)
    default = (DEPLOY / "docker-exporter.default").read_text()
    assert "DOCKER_EXPORTER_WEB_SYSTEMD_SOCKET=true" in default
    port = int(listen.rpartition(":")[2])
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", port))
    except OSError:
        skip_testbed_limit(f"port {port} of the example unit is taken here")
    finally:
        probe.close()
    process = await activated(f"127.0.0.1:{port}")
    try:

        async def metrics() -> str | None:
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"http://127.0.0.1:{port}/metrics") as response,
                ):
                    return await response.text() if response.status == 200 else None
            except aiohttp.ClientConnectionError:
                return None

        body = await wait_for(metrics, "the exporter on the example unit's port")
        assert value(body, "docker_up") is not None
    finally:
        await stop(process)


@needs_activate
def test_the_example_socket_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        skip_testbed_limit("systemd-analyze not installed (apt-get install systemd)")
    service = (DEPLOY / "docker-exporter.service").read_text()
    binary = Path(sys.executable).parent / "docker-exporter"
    (tmp_path / "docker-exporter.service").write_text(
        re.sub(r"^ExecStart=\S+", f"ExecStart={binary}", service, flags=re.M)
    )
    shutil.copy(DEPLOY / "docker-exporter.socket", tmp_path)
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / "docker-exporter.socket")],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 and "Failed to" in output and str(tmp_path) not in output:
        skip_testbed_limit(f"systemd-analyze cannot run in this sandbox: {output}")
    assert result.returncode == 0, output
    assert output == "", output


def test_without_a_passed_socket_start_up_fails_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--web.systemd-socket"],
        capture_output=True, text=True, timeout=30, check=False,
        env={"PATH": "/usr/bin:/bin", "LISTEN_PID": "1", "LISTEN_FDS": "1"},
    )  # fmt: skip
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "passed to process 1, not to this one (LISTEN_PID)" in line


def test_listen_sockets_reads_and_clears_the_environment() -> None:
    """sd_listen_fds(3): descriptors from 3 for this PID only; the variables are removed."""
    with pytest.raises(SocketActivationError, match="LISTEN_PID and LISTEN_FDS unset"):
        listen_sockets({}, pid=7)
    env = {"LISTEN_PID": "8", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "x"}
    with pytest.raises(SocketActivationError, match="passed to process 8"):
        listen_sockets(env, pid=7)
    assert env == {}  # removed even when refused: no child takes them for its own
    with pytest.raises(SocketActivationError, match="LISTEN_FDS='0'"):
        listen_sockets({"LISTEN_PID": "7", "LISTEN_FDS": "0"}, pid=7)


@needs_activate
async def test_a_connected_socket_is_refused(tmp_path: Path) -> None:
    """Accept=yes (systemd-socket-activate --accept) passes a connection, not a listening
    socket: the exporter says so and exits 1."""
    assert ACTIVATE is not None
    path = tmp_path / "accept.sock"
    process = await asyncio.create_subprocess_exec(
        ACTIVATE, "--accept", "-l", str(path),
        sys.executable, "-m", "exporter", "--web.systemd-socket",
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )  # fmt: skip
    assert process.stderr is not None
    try:

        async def listening() -> bool:
            return path.exists()

        await wait_for(listening, "systemd-socket-activate listening")
        reader, writer = await asyncio.open_unix_connection(str(path))
        assert await reader.read() == b""  # the exporter exits: the connection closes
        writer.close()
        lines: list[str] = []

        async def refused() -> bool:
            assert process.stderr is not None
            lines.append((await process.stderr.readline()).decode())
            return "is not a listening stream socket" in lines[-1]

        await wait_for(refused, "the exporter's refusal")
        assert "--web.systemd-socket: descriptor 3" in lines[-1]
    finally:
        await stop(process)
