"""The registry collector's parts without a registry: auth headers, docker config, Link
paging, manifests, config checks, the collector's series, push/pull counting, flags."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import MappingProxyType

import pytest
from conftest import FIXTURES, FakeClock, FakeEngine, event, running_watcher, until
from prometheus_client.parser import text_string_to_metric_families

from exporter.cli.main import parse_settings
from exporter.collectors import Options
from exporter.engine.resources import registry_domain
from exporter.inventory.store import MAX_TRANSFER_REGISTRIES, Inventory, Snapshot
from exporter.registry.auth import (
    AuthError,
    Challenge,
    Credentials,
    parse_challenges,
    parse_docker_config,
    parse_token,
    registry_key,
    token_request,
)
from exporter.registry.client import Response
from exporter.registry.config import (
    RegistryConfigError,
    load_targets,
    parse_registry_url,
)
from exporter.registry.models import Manifest, RegistrySnapshot, Repository
from exporter.registry.poller import next_link, parse_manifest
from exporter.render.exposition import Exposition

RECORDED = FIXTURES / "registry"


# -- WWW-Authenticate -------------------------------------------------------------


def test_bearer_challenge_with_a_comma_inside_the_scope() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:samalba/my-app:pull,push"'
    )
    (challenge,) = parse_challenges(header)
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.docker.io/token"
    assert challenge.params["service"] == "registry.docker.io"
    assert challenge.params["scope"] == "repository:samalba/my-app:pull,push"


def test_several_challenges_escapes_and_token68() -> None:
    got = parse_challenges('Negotiate abc==, Basic realm="a \\"b\\"", BEARER realm=x , error=y')
    schemes = [c.scheme for c in got]
    assert schemes[-2:] == ["basic", "bearer"]
    assert got[-2].realm == 'a "b"'
    assert dict(got[-1].params) == {"realm": "x", "error": "y"}
    assert parse_challenges("") == []
    assert parse_challenges('Basic realm="registry 2.8"') == [
        Challenge("basic", {"realm": "registry 2.8"})
    ]
    with pytest.raises(AuthError):
        parse_challenges('Bearer realm="open')


def test_token_request_shapes() -> None:
    challenge = Challenge(
        "bearer", {"realm": "https://t.example/token", "service": "s", "scope": "a b"}
    )
    anonymous = token_request(challenge, None)
    assert (anonymous.method, anonymous.authorization) == ("GET", "")
    assert anonymous.params == (("service", "s"), ("scope", "a"), ("scope", "b"))
    basic = token_request(challenge, Credentials("alice", "pw"))
    assert basic.authorization == "Basic " + base64.b64encode(b"alice:pw").decode()
    assert ("account", "alice") in basic.params
    oauth = token_request(challenge, Credentials("alice", identity_token="refresh-me"))
    assert oauth.method == "POST"
    assert ("grant_type", "refresh_token") in oauth.form
    assert ("refresh_token", "refresh-me") in oauth.form
    assert ("scope", "a b") in oauth.form
    assert "refresh-me" not in repr(oauth)
    assert "pw" not in repr(basic)
    with pytest.raises(AuthError):
        token_request(Challenge("bearer", {"realm": "file:///etc/passwd"}), None)


def test_token_answers() -> None:
    assert parse_token(b'{"token": "t", "expires_in": 300}', 100.0).expires_at == 395.0
    oauth = parse_token(b'{"access_token": "a"}', 0.0)  # the spec's default: 60 s
    assert (oauth.value, oauth.expires_at) == ("a", 55.0)
    assert "a" not in repr(oauth).replace("expires_at", "")
    for bad in (b"<html>", b"[]", b'{"token": ""}', b"\xff"):
        with pytest.raises(AuthError):
            parse_token(bad, 0.0)


# -- docker config ----------------------------------------------------------------


def test_docker_config_as_docker_login_wrote_it() -> None:
    """Recorded: docker 28's CLI after `docker login` to a registry 2.8 with htpasswd."""
    parsed = parse_docker_config((RECORDED / "docker_config_login.json").read_bytes())
    assert dict(parsed.auths) == {"127.0.0.1:5000": Credentials("fixture", "fixture-password")}
    assert parsed.unsupported == ()
    assert "fixture-password" not in repr(parsed)


def test_docker_config_helpers_tokens_and_bad_entries() -> None:
    doc = {
        "auths": {
            "https://index.docker.io/v1/": {},  # docker login with a helper writes this
            "http://reg.example:5000/v2/": {"identitytoken": "idtok", "auth": ""},
            "reg2.example": {"auth": "not base64!"},
            "reg3.example": {"auth": base64.b64encode(b"no-colon").decode()},
            "reg4.example": {"username": "u", "password": "p"},
        },
        "credsStore": "desktop",
        "credHelpers": {"gcr.io": "gcloud"},
    }
    parsed = parse_docker_config(json.dumps(doc).encode())
    assert dict(parsed.auths) == {
        "reg.example:5000": Credentials(identity_token="idtok"),
        "reg4.example": Credentials("u", "p"),
    }
    text = " ".join(parsed.unsupported)
    assert "credsStore 'desktop'" in text
    assert "gcr.io" in text
    assert "reg2.example" in text
    assert "reg3.example" in text
    assert "not base64!" not in text
    for bad in (b"{", b"[]", b"\xff\xfe"):
        with pytest.raises(AuthError):
            parse_docker_config(bad)


def test_registry_keys() -> None:
    assert registry_key("https://index.docker.io/v1/") == "index.docker.io"
    assert registry_key("127.0.0.1:5000") == "127.0.0.1:5000"
    assert registry_key("HTTP://Reg.Example:5000") == "reg.example:5000"


# -- paging and manifests ---------------------------------------------------------


def test_catalog_link_recorded_from_registry_2_8() -> None:
    page = json.loads((RECORDED / "catalog_page.json").read_text())
    assert next_link([page["link"]], "/v2/_catalog") == [("last", "dxt/b"), ("n", "2")]


def test_link_headers() -> None:
    assert next_link([], "/v2/_catalog") is None
    assert next_link(['</v2/_catalog?last=a>; rel="prev"'], "/v2/_catalog") is None
    several = '</x?y=1>; rel="prev", </v2/_catalog?n=5&last=z>; rel="next"'
    assert next_link([several], "/v2/_catalog") == [("n", "5"), ("last", "z")]
    # another host or path is not followed (its answer would carry our credentials there)
    assert next_link(['<https://evil.example/v2/_catalog?n=1>; rel="next"'], "/v2/_catalog") is None
    assert next_link(["</v2/other?n=1>; rel=next"], "/v2/_catalog") is None


def test_manifest_sizes() -> None:
    headers = json.loads((RECORDED / "manifest_v2.headers.json").read_text())
    body = (RECORDED / "manifest_v2.json").read_bytes()
    doc = json.loads(body)
    manifest = parse_manifest(Response(200, body, MappingProxyType(headers)))
    assert manifest.digest == headers["docker-content-digest"]
    assert manifest.size_bytes == doc["config"]["size"] + sum(
        layer["size"] for layer in doc["layers"]
    )
    index = json.dumps({"schemaVersion": 2, "manifests": [{"size": 1}]}).encode()
    listed = parse_manifest(Response(200, index))
    assert listed.size_bytes is None
    assert listed.digest.startswith("sha256:")  # no header: the body's own digest


# -- configuration ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://reg",
        "http://",
        "http://user:pw@reg:5000",
        "http://reg:5000/some/path",
        "http://reg:99999",
        "reg:5000",
    ],
)
def test_bad_registry_urls(url: str) -> None:
    with pytest.raises(RegistryConfigError) as caught:
        parse_registry_url(url)
    assert "pw" not in str(caught.value) or "user:pw" not in url


def test_registry_urls() -> None:
    assert parse_registry_url("https://Reg.Example:5000/") == (
        "reg.example:5000",
        "https://reg.example:5000",
    )
    assert parse_registry_url("http://127.0.0.1:5000/v2/")[0] == "127.0.0.1:5000"


def test_config_file_and_precedence(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    (tmp_path / "registry.yml").write_text(
        "registries:\n  reg.example:5000:\n    username: bob\n    password_file: pw\n"
    )
    docker = tmp_path / "config.json"
    docker.write_text(
        json.dumps(
            {
                "auths": {
                    "reg.example:5000": {"auth": base64.b64encode(b"x:y").decode()},
                    "other.example": {"auth": base64.b64encode(b"carol:pc").decode()},
                },
                "credsStore": "pass",
            }
        )
    )
    targets, warnings = load_targets(
        ["http://reg.example:5000", "http://other.example"],
        config_file=str(tmp_path / "registry.yml"),
        docker_config=str(docker),
    )
    assert [t.credentials for t in targets] == [
        Credentials("bob", "from-file"),
        Credentials("carol", "pc"),
    ]
    assert warnings == [
        "--registry.docker-config: unsupported credsStore 'pass' (credential helpers are not run)"
    ]
    assert "from-file" not in repr(targets)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("registries: [1]", "registries must be a mapping"),
        ("other: 1", "expected one key"),
        ("registries:\n  reg:1:\n    password: x", "unsupported keys ['password']"),
        ("registries:\n  reg:1:\n    password_file: /nonexistent", "does not exist"),
        ("registries:\n  reg:1:\n    cert_file: /etc/hostname", "go together"),
        ("registries:\n  reg:1:\n    insecure_skip_verify: maybe", "true or false"),
        ("registries:\n  stray:2: {}", "no --registry.url for stray:2"),
        ("registries: {a: [", "not YAML"),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "registry.yml"
    path.write_text(text)
    with pytest.raises(RegistryConfigError) as caught:
        load_targets(["http://reg:1"], config_file=str(path))
    assert message in str(caught.value)


def test_certs_dir_and_bad_tls_files(tmp_path: Path) -> None:
    folder = tmp_path / "certs.d" / "reg:1"
    folder.mkdir(parents=True)
    (folder / "ca.crt").write_text("not a certificate")
    with pytest.raises(RegistryConfigError) as caught:
        load_targets(["https://reg:1"], certs_dir=str(tmp_path / "certs.d"))
    assert "TLS files" in str(caught.value)
    (folder / "ca.crt").unlink()
    (folder / "client.cert").write_text("x")
    with pytest.raises(RegistryConfigError, match=r"client.cert has no client.key"):
        load_targets(["https://reg:1"], certs_dir=str(tmp_path / "certs.d"))
    # http registries read no TLS files; a missing certs dir is no error
    assert load_targets(["http://reg:1"], certs_dir=str(tmp_path / "certs.d"))[0][0].tls is None
    assert load_targets(["https://reg:2"], certs_dir=str(tmp_path / "none"))[0][0].tls is not None


def test_registry_flags() -> None:
    default = parse_settings([], {})
    assert "registry" not in default.collectors
    assert default.registry_interval == 300.0
    assert default.registry_max_repositories == 1000
    assert default.registry_urls == ()
    on = parse_settings(
        ["--registry.url", "http://a:1", "--registry.url", "https://b", "--registry.manifests"], {}
    )
    assert "registry" in on.collectors
    assert on.registry_urls == ("http://a:1", "https://b")
    assert on.registry_manifests
    env = parse_settings([], {"DOCKER_EXPORTER_REGISTRY_URL": "http://a:1 http://c:2"})
    assert env.registry_urls == ("http://a:1", "http://c:2")
    assert "registry" in env.collectors
    off = parse_settings(["--registry.url", "http://a:1", "--no-collector.registry"], {})
    assert "registry" not in off.collectors


@pytest.mark.parametrize(
    "args",
    [
        ["--registry.url", "ftp://x"],
        ["--registry.url", "http://u:secret@x:1"],
        ["--registry.interval", "1s"],
        ["--registry.max-repositories", "0"],
        ["--collector.registry"],
    ],
)
def test_bad_registry_flags_are_one_line_and_exit_2(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_settings(args, {})
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "secret" not in err


# -- the collector ------------------------------------------------------------------


def samples(snapshot: Snapshot, collectors: tuple[str, ...] = ("registry",)) -> dict[str, float]:
    text = Exposition(collectors, Options()).render(snapshot).data.decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return {k: v for k, v in out.items() if k.startswith(("docker_registry_", "docker_image_p"))}


def test_the_collector_reads_only_the_snapshot() -> None:
    manifests = MappingProxyType(
        {"v1": Manifest("sha256:x", "m", 123), "v2": Manifest("d", "i", None)}
    )
    up = RegistrySnapshot(
        "127.0.0.1:5000",
        "http://127.0.0.1:5000",
        up=True,
        polled=True,
        probe_seconds=0.25,
        last_success_ts=1_800_000_000.0,
        repositories=(Repository("a/b", ("v1", "v2"), manifests), Repository("c", None)),
        catalog_truncated=True,
        requests=MappingProxyType({"200": 5, "401": 1, "timeout": 2}),
        certificate_expiry_ts=1_900_000_000.0,
    )
    pending = RegistrySnapshot("reg.example", "https://reg.example")
    got = samples(Snapshot(registries=MappingProxyType({up.name: up, pending.name: pending})))
    r = "registry=127.0.0.1:5000"
    assert got == {
        f"docker_registry_up{{{r}}}": 1.0,
        f"docker_registry_probe_duration_seconds{{{r}}}": 0.25,
        f"docker_registry_last_success_timestamp_seconds{{{r}}}": 1_800_000_000.0,
        f"docker_registry_repositories{{{r}}}": 2.0,
        f"docker_registry_catalog_truncated{{{r}}}": 1.0,
        f"docker_registry_tags{{{r},repository=a/b}}": 2.0,
        f"docker_registry_requests_total{{code=200,{r}}}": 5.0,
        f"docker_registry_requests_total{{code=401,{r}}}": 1.0,
        f"docker_registry_requests_total{{code=timeout,{r}}}": 2.0,
        f"docker_registry_certificate_expiry_timestamp_seconds{{{r}}}": 1_900_000_000.0,
        f"docker_registry_manifest_size_bytes{{{r},repository=a/b,tag=v1}}": 123.0,
    }


def test_a_registry_down_keeps_its_last_repositories() -> None:
    down = RegistrySnapshot(
        "r:1", "http://r:1", up=False, polled=True, last_success_ts=5.0,
        repositories=(Repository("x", ("1",)),), error="cannot connect: Connection refused",
    )  # fmt: skip
    got = samples(Snapshot(registries=MappingProxyType({"r:1": down})))
    assert got["docker_registry_up{registry=r:1}"] == 0.0
    assert got["docker_registry_tags{registry=r:1,repository=x}"] == 1.0
    assert not any("Connection refused" in key for key in got)


# -- pushes and pulls -----------------------------------------------------------------


def test_registry_domains() -> None:
    assert registry_domain("127.0.0.1:5000/dxt/a:v1") == "127.0.0.1:5000"
    assert registry_domain("localhost/app") == "localhost"
    assert registry_domain("busybox:latest") == "docker.io"
    assert registry_domain("library/busybox") == "docker.io"
    assert registry_domain("docker.io/library/busybox:1") == "docker.io"
    assert registry_domain("index.docker.io/x/y") == "docker.io"
    assert registry_domain("Reg.Example/x@sha256:00") == "reg.example"


def test_transfer_registries_are_bounded() -> None:
    inventory = Inventory()
    for i in range(MAX_TRANSFER_REGISTRIES + 5):
        inventory.count_transfer("push", f"reg{i}.example")
    inventory.count_transfer("pull", "reg0.example")
    counts = inventory.publish().status.transfers
    registries = {r for _, r in counts}
    assert len(registries) == MAX_TRANSFER_REGISTRIES + 1
    assert counts[("push", "other")] == 5
    assert counts[("pull", "reg0.example")] == 1


async def test_push_and_pull_events_are_counted_by_registry(
    fake_engine: FakeEngine, clock: FakeClock
) -> None:
    """Recorded shapes: Docker 20.10's push and pull events (the actor is the reference)."""
    inventory = Inventory()
    async with running_watcher(fake_engine, inventory, clock):
        base = int(clock.now * 1e9)
        fake_engine.emit(event("image", "push", "127.0.0.1:5000/dxt/a:v1", base + 1,
                               name="127.0.0.1:5000/dxt/a"))  # fmt: skip
        fake_engine.emit(event("image", "pull", "127.0.0.1:5000/dxt/a:v1", base + 2,
                               name="127.0.0.1:5000/dxt/a"))  # fmt: skip
        fake_engine.emit(event("image", "pull", "busybox:latest", base + 3, name="busybox"))
        fake_engine.emit(event("image", "tag", "sha256:00", base + 4, name="x:1"))
        snapshot = await until(inventory, lambda s: len(s.status.transfers) == 3)
    assert dict(snapshot.status.transfers) == {
        ("push", "127.0.0.1:5000"): 1,
        ("pull", "127.0.0.1:5000"): 1,
        ("pull", "docker.io"): 1,
    }
    got = samples(snapshot, ("events",))
    assert got["docker_image_pushes_total{registry=127.0.0.1:5000}"] == 1.0
    assert got["docker_image_pulls_total{registry=docker.io}"] == 1.0
