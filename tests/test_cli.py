"""Command line: flags, environment variables, one-line errors with exit code 2."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import pytest

from exporter import docs
from exporter.cli.main import build_parser, env_name, parse_settings
from exporter.cli.settings import Settings
from exporter.engine.config import EngineConfig, engine_config_from_env
from exporter.inventory.history import EventHistory
from exporter.inventory.liveness import Liveness
from exporter.inventory.store import Inventory
from exporter.inventory.watcher import Watcher
from exporter.options import OPTIONS, Option, option, parse_positive_int
from exporter.registry.client import RegistryClient
from exporter.registry.poller import RegistryPoller
from exporter.stats.cgroup import CgroupReader
from exporter.stats.diskusage import DiskUsageSampler
from exporter.stats.sampler import ApiSource, Sampler, choose_source
from exporter.web.http import make_app


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


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/events", "would hide the /events page"),
        ("/topology", "would hide the /topology page"),
        ("/openapi.json", "would hide the /openapi.json page"),
        ("/inventory", "would hide the /inventory page"),
        ("/inventory/containers/web", "would hide the /inventory/containers/{ref} page"),
        ("/-/metrics", "is under /-/"),
        ("metrics", "must start with /"),
    ],
)
def test_a_telemetry_path_that_would_hide_a_page_is_refused(path: str, error: str) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_settings(["--web.telemetry-path", path], {})
    assert exited.value.code == 2
    result = run("--web.telemetry-path", path)
    assert result.returncode == 2
    assert error in result.stderr


@pytest.mark.parametrize("path", ["/inventory2", "/inventory/all", "/", "/metrics/docker"])
def test_a_telemetry_path_beside_the_pages_is_accepted(path: str) -> None:
    assert parse_settings(["--web.telemetry-path", path], {}).telemetry_path == path


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
    "--web.systemd-socket": ("true", True),
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
    "--compat.cadvisor.listen-address": (":8080", ("0.0.0.0", 8080)),
    "--compat.cadvisor.labels": ("a.b, c", ("a.b", "c")),
    "--compat.cadvisor.last-seen-grace": ("90s", 90.0),
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


def keyword_default(fn: Callable[..., object], name: str) -> object:
    """The default of `fn`'s parameter `name` (a dataclass's field, for a class)."""
    return inspect.signature(fn).parameters[name].default


READERS: dict[str, list[object]] = {
    "inventory_max_containers": [keyword_default(make_app, "inventory_limit")],
    "docker_timeout": [keyword_default(EngineConfig, "timeout")],
    "ping_interval": [keyword_default(Liveness, "interval")],
    "ping_timeout": [keyword_default(Liveness, "timeout")],
    "max_labels": [
        keyword_default(EngineConfig, "max_labels"),
        keyword_default(engine_config_from_env, "max_labels"),
    ],
    "max_label_length": [
        keyword_default(EngineConfig, "max_label_length"),
        keyword_default(engine_config_from_env, "max_label_length"),
    ],
    "max_image_tags": [
        keyword_default(EngineConfig, "max_image_tags"),
        keyword_default(engine_config_from_env, "max_image_tags"),
    ],
    "resync_interval": [keyword_default(Watcher, "resync_interval")],
    "max_processes": [keyword_default(Inventory, "max_processes")],
    "max_event_kinds": [keyword_default(Inventory, "max_event_kinds")],
    "events_history": [keyword_default(EventHistory, "capacity")],
    "stats_interval": [keyword_default(Sampler, "interval")],
    "stats_concurrency": [
        keyword_default(EngineConfig, "stats_concurrency"),
        keyword_default(engine_config_from_env, "stats_concurrency"),
        keyword_default(ApiSource, "concurrency"),
    ],
    "stats_open_files": [
        keyword_default(CgroupReader, "max_open_files"),
        keyword_default(choose_source, "open_files"),
    ],
    "volume_sizes_interval": [keyword_default(DiskUsageSampler, "interval")],
    "registry_interval": [keyword_default(RegistryPoller, "interval")],
    "registry_max_repositories": [keyword_default(RegistryPoller, "max_repositories")],
    "registry_manifests": [keyword_default(RegistryPoller, "manifests")],
    "registry_timeout": [keyword_default(RegistryClient, "timeout")],
}
"""Every reader's own default for a setting: a class or function used without the
settings (tests, benchmarks, `--once` helpers) must get the default in force."""


@pytest.mark.parametrize("name", sorted(READERS))
def test_a_readers_default_is_its_options_default(name: str) -> None:
    """One default per setting: the declared text, parsed, is the Settings field's default,
    what no flag and no variable choose, and every reader's keyword default."""
    declared = next(f for f in fields(Settings) if f.name == name)
    opt = declared.metadata["option"]
    assert OPTIONS[opt.flag] is opt
    assert opt.parse(opt.default) == declared.default == getattr(parse_settings([], {}), name)
    assert READERS[name]
    assert all(default == declared.default for default in READERS[name])
    assert getattr(parse_settings([], {opt.env: OTHER_VALUES[opt.flag][0]}), name) != opt.value


def test_an_option_that_is_a_field_is_not_read_as_a_collector_option() -> None:
    """`settings[OPTION]` of a field would give the default whatever was chosen."""
    settings = parse_settings(["--stats.interval=7s"], {})
    with pytest.raises(KeyError, match=r"Settings\.stats_interval"):
        settings[OPTIONS["--stats.interval"]]


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
