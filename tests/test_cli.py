"""Command line: flags, environment variables, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from exporter.cli.main import env_name, parse_settings


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--no-such-flag"],
        ["--web.listen-address", "nope"],
        ["--web.listen-address", ":99999"],
        ["--docker.host", "ftp://x"],
        ["--docker.host", "tcp://"],
        ["--docker.timeout", "soon"],
        ["--log.level", "loud"],
        ["--log.format", "xml"],
        ["--web.telemetry-path", "metrics"],
        ["--container.labels", "a.b,a_b"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("docker-exporter: error:")
    assert "Traceback" not in result.stderr


def test_bad_environment_value_is_exit_2() -> None:
    result = run(env={"DOCKER_EXPORTER_DOCKER_TIMEOUT": "never"})
    assert result.returncode == 2
    assert "DOCKER_EXPORTER_DOCKER_TIMEOUT" in result.stderr or "never" in result.stderr


def test_version_and_grouped_help() -> None:
    assert run("--version").stdout.startswith("docker-exporter 0.")
    text = run("--help").stdout
    for group in ("web:", "docker:", "collectors:", "log:"):
        assert group in text
    assert "--no-collector.containers" in text
    assert "default: :9417" in text


def test_defaults() -> None:
    s = parse_settings([], {})
    assert (s.listen_host, s.listen_port) == ("0.0.0.0", 9417)
    assert s.docker_host == "unix:///var/run/docker.sock"
    assert s.docker_timeout == 10.0
    assert s.resync_interval == 60.0
    assert set(s.collectors) >= {"containers", "engine", "events"}


def test_docker_host_from_environment_and_flag_precedence() -> None:
    assert (
        parse_settings([], {"DOCKER_HOST": "tcp://127.0.0.1:2375"}).docker_host
        == "tcp://127.0.0.1:2375"
    )
    flagged = parse_settings(["--docker.host", "unix:///run/x.sock"], {"DOCKER_HOST": "tcp://h:1"})
    assert flagged.docker_host == "unix:///run/x.sock"


def test_every_flag_has_an_environment_variable() -> None:
    env = {
        env_name("--web.listen-address"): "127.0.0.1:1234",
        env_name("--inventory.resync-interval"): "2m",
        env_name("--container.labels"): "team, app",
        env_name("--collector.events"): "false",
        env_name("--web.disable-exporter-metrics"): "true",
    }
    s = parse_settings([], env)
    assert (s.listen_host, s.listen_port) == ("127.0.0.1", 1234)
    assert s.resync_interval == 120.0
    assert s.container_labels == ("team", "app")
    assert "events" not in s.collectors
    assert not s.exporter_metrics
    # a flag beats its environment variable
    assert parse_settings(["--collector.events"], env).collectors.count("events") == 1


def test_collector_flags() -> None:
    assert "containers" not in parse_settings(["--no-collector.containers"], {}).collectors
    only = parse_settings(["--collector.disable-defaults", "--collector.engine"], {})
    assert only.collectors == ("engine",)


def test_unreachable_engine_with_once_fails_cleanly(tmp_path: object) -> None:
    result = run(
        "--once", "--docker.host", "unix:///nonexistent/docker.sock", "--docker.timeout", "2s"
    )
    assert result.returncode == 1
    assert "engine unreachable" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "variable", ["DOCKER_EXPORTER_ONCE", "DOCKER_EXPORTER_COLLECTOR_TOP",
                 "DOCKER_EXPORTER_WEB_DISABLE_EXPORTER_METRICS"],
)  # fmt: skip
def test_a_bad_boolean_in_the_environment_is_one_line_and_exit_2(
    variable: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_settings([], {variable: "maybe"})
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{variable}: invalid boolean 'maybe'" in err
