"""Command line: flags, environment variables, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from typing import Any

import pytest

from exporter import docs
from exporter.cli.main import build_parser, env_name, parse_settings
from exporter.cli.settings import Settings
from exporter.options import OPTIONS, Option, option, parse_positive_int


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


def test_bad_environment_value_is_one_line_naming_the_variable() -> None:
    result = run(env={"DOCKER_EXPORTER_DOCKER_TIMEOUT": "never"})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "DOCKER_EXPORTER_DOCKER_TIMEOUT: invalid duration 'never'" in result.stderr


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


# A value of each option other than its default, as a user would type it.
OTHER_VALUES = {
    "--web.listen-address": ("127.0.0.1:1234", ("127.0.0.1", 1234)),
    "--web.telemetry-path": ("/m", "/m"),
    "--web.config.file": ("/etc/web.yml", "/etc/web.yml"),
    "--web.disable-exporter-metrics": ("true", True),
    "--docker.host": ("tcp://127.0.0.1:2375", "tcp://127.0.0.1:2375"),
    "--docker.timeout": ("3s", 3.0),
    "--docker.ping-interval": ("10s", 10.0),
    "--docker.ping-timeout": ("1s", 1.0),
    "--docker.max-labels": ("10", 10),
    "--docker.max-label-length": ("20", 20),
    "--docker.max-image-tags": ("3", 3),
    "--inventory.max-processes": ("7", 7),
    "--inventory.max-event-kinds": ("9", 9),
    "--web.inventory.max-containers": ("11", 11),
    "--inventory.resync-interval": ("2m", 120.0),
    "--container.labels": ("team, app", ("team", "app")),
    "--container.include": ("name=web-*", ("name=web-*",)),
    "--container.exclude": ("label=skip", ("label=skip",)),
    "--container.label-map": ("com.example.team=team", (("com.example.team", "team"),)),
    "--events.history": ("50", 50),
    "--stats.source": ("api", "api"),
    "--stats.interval": ("2s", 2.0),
    "--stats.concurrency": ("3", 3),
    "--stats.open-files-limit": ("0", 0),
    "--host.proc": ("/host/proc", "/host/proc"),
    "--host.sys": ("/host/sys", "/host/sys"),
    "--collector.disable-defaults": ("yes", True),
    "--collector.top.interval": ("30s", 30.0),
    "--collector.volume_sizes.interval": ("1h", 3600.0),
    "--registry.url": ("http://127.0.0.1:5000", ("http://127.0.0.1:5000",)),
    "--registry.interval": ("10m", 600.0),
    "--registry.timeout": ("3s", 3.0),
    "--registry.max-repositories": ("50", 50),
    "--registry.docker-config": ("/root/.docker/config.json", "/root/.docker/config.json"),
    "--registry.config.file": ("/etc/registries.yml", "/etc/registries.yml"),
    "--registry.manifests": ("true", True),
    "--host.docker-certs-dir": ("/host/certs.d", "/host/certs.d"),
    "--registry.check-running": ("true", True),
    "--registry.check-interval": ("1h", 3600.0),
    "--collector.logs.interval": ("1m", 60.0),
    "--host.docker-root": ("/host/docker", "/host/docker"),
    "--collector.container_sizes.interval": ("1h", 3600.0),
    "--log.level": ("debug", "debug"),
    "--log.format": ("json", "json"),
    "--once": ("1", True),
}


def chosen(settings: Settings, opt: Option[Any]) -> Any:
    for f in fields(Settings):
        if f.metadata.get("option") is opt:
            return getattr(settings, f.name)
    return settings[opt]


@pytest.mark.parametrize("flag", sorted(OPTIONS))
def test_every_option_is_set_by_its_environment_variable_and_beaten_by_its_flag(
    flag: str,
) -> None:
    opt = OPTIONS[flag]
    text, expected = OTHER_VALUES[flag]
    default = "unix:///var/run/docker.sock" if flag == "--docker.host" else opt.value
    assert chosen(parse_settings([], {}), opt) == default != expected
    assert chosen(parse_settings([], {opt.env: text}), opt) == expected
    argv = [flag] if opt.switch else [f"{flag}={text}"]
    assert chosen(parse_settings(argv, {}), opt) == expected
    if not opt.switch and opt.default:
        beaten = parse_settings([f"{flag}={opt.default}"], {opt.env: text})
        assert chosen(beaten, opt) == opt.value


def test_collector_switches_from_the_environment() -> None:
    env = {env_name("--collector.events"): "false", env_name("--collector.top"): "on"}
    s = parse_settings([], env)
    assert "events" not in s.collectors
    assert "top" in s.collectors
    # a flag beats its environment variable
    assert parse_settings(["--collector.events"], env).collectors.count("events") == 1


def test_one_declaration_makes_the_flag_the_variable_the_default_and_the_readme_row() -> None:
    """Adding an option is one `option(...)` in the module that uses it."""
    opt = option(
        "--collector.test_only.depth", "3", parse_positive_int, "A test option.", group="collectors"
    )
    try:
        assert parse_settings([], {})[opt] == 3
        assert parse_settings(["--collector.test_only.depth", "5"], {})[opt] == 5
        assert parse_settings([], {"DOCKER_EXPORTER_COLLECTOR_TEST_ONLY_DEPTH": "7"})[opt] == 7
        assert (
            "| `--collector.test_only.depth` | `DOCKER_EXPORTER_COLLECTOR_TEST_ONLY_DEPTH` | `3` "
            "| A test option. |" in docs.flags_table()
        )
        assert "--collector.test_only.depth DEPTH" in build_parser().format_help()
    finally:
        del OPTIONS[opt.flag]


def test_an_option_declared_twice_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        option("--stats.interval", "5s", str, "again", group="stats")


def test_collector_flags() -> None:
    assert "containers" not in parse_settings(["--no-collector.containers"], {}).collectors
    only = parse_settings(["--collector.disable-defaults", "--collector.engine"], {})
    assert only.collectors == ("engine",)


def test_unreachable_engine_with_once_fails_cleanly() -> None:
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


def test_a_bad_boolean_in_the_environment_is_no_traceback() -> None:
    result = run(env={"DOCKER_EXPORTER_ONCE": "maybe"})
    assert result.returncode == 2
    assert (
        result.stderr == "docker-exporter: error: DOCKER_EXPORTER_ONCE: invalid boolean 'maybe'\n"
    )


def test_settings_built_in_code_reach_the_default_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty --docker.host means $DOCKER_HOST, else the default socket, wherever the
    Settings come from (the stats source choice reads it: a unix socket is local)."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert Settings().engine_host == "unix:///var/run/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2375")
    assert Settings().engine_host == "tcp://10.0.0.1:2375"
    assert Settings(docker_host="unix:///run/x.sock").engine_host == "unix:///run/x.sock"
