"""Issue 22's pure parts: image references and freshness verdicts on both image stores
(recorded payloads from docker20's graph driver and docker29's containerd store), index
entries, log files by stat (real files, real renames), the ps columns, the flags."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import load_json

from exporter.cli import ps
from exporter.cli.app import _insecure
from exporter.cli.main import parse_settings
from exporter.collectors.image_updates import parse_check_interval
from exporter.engine.models import parse_container, parse_engine
from exporter.engine.resources import parse_image
from exporter.engine.stats import LogFile, parse_container_sizes
from exporter.options import ConfigError
from exporter.registry.checker import parse_index
from exporter.registry.freshness import image_update, parse_reference, wanted_tags
from exporter.registry.models import PlatformManifest, TagCheck
from exporter.stats.logfiles import log_path, look

D20_INFO = load_json("info.json")
D29_INFO = load_json("docker29/info.json")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("busybox", ("docker.io", "library/busybox", "latest", "")),
        ("busybox:local", ("docker.io", "library/busybox", "local", "")),
        ("index.docker.io/team/app:1", ("docker.io", "team/app", "1", "")),
        ("127.0.0.1:5000/team/app", ("127.0.0.1:5000", "team/app", "latest", "")),
        ("localhost/app:v2", ("localhost", "app", "v2", "")),
        ("Registry.Example/a/b/c:x.y", ("registry.example", "a/b/c", "x.y", "")),
        (f"r.example/app@sha256:{'a' * 64}", ("r.example", "app", "latest", f"sha256:{'a' * 64}")),
    ],
)
def test_references_normalize_as_docker_does(text: str, expected: tuple[str, ...]) -> None:
    ref = parse_reference(text)
    assert ref is not None
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == expected


@pytest.mark.parametrize("text", ["", f"sha256:{'b' * 64}", "b" * 12, "UPPER/case:1", "a@nodigest"])
def test_image_ids_and_invalid_references_are_not_checked(text: str) -> None:
    assert parse_reference(text) is None


def container_of(image: str, image_id: str, state: str = "running") -> object:
    doc = load_json("inspect_running.json")
    doc["Config"]["Image"] = image
    doc["Image"] = image_id
    container = parse_container(doc)
    return replace(container, state=state)


def engine_of(info: dict[str, object]) -> object:
    return parse_engine(info, {}, "1.41")


def check(ref: str, digest: str = "", **changes: object) -> dict[str, TagCheck]:
    parsed = parse_reference(ref)
    assert parsed is not None
    found = TagCheck(parsed.registry, parsed.repository, parsed.tag, digest, checked_ts=1.0)
    return {parsed.key: replace(found, **changes)}


def test_graph_driver_compares_the_repo_digests_of_the_image_the_container_runs() -> None:
    raw = load_json("image_inspect_busybox.json")
    ref = "127.0.0.1:5000/team/app:latest"
    running = "sha256:" + "1" * 64
    raw["RepoDigests"] = [
        f"127.0.0.1:5000/team/app@{running}",
        f"other.example/x@sha256:{'2' * 64}",
    ]
    image = parse_image(raw)
    images = {image.id: image}
    c = container_of(ref, image.id)
    engine = engine_of(D20_INFO)
    assert not engine.containerd_store
    same = image_update(c, images, check(ref, running), engine)
    assert same is not None
    assert (same.available, same.running) == (False, (running,))
    moved = image_update(c, images, check(ref, "sha256:" + "3" * 64), engine)
    assert moved is not None
    assert moved.available is True
    assert image_update(c, images, {}, engine).reason == "not checked"
    unknown = image_update(c, images, check(ref, running, reason="unauthorized"), engine)
    assert (unknown.available, unknown.reason) == (None, "unauthorized")
    # an image built here, never pushed: no RepoDigests there, nothing to compare
    raw["RepoDigests"] = []
    local = parse_image(raw)
    assert image_update(c, {local.id: local}, check(ref, running), engine).reason == (
        "not pulled from the registry"
    )
    assert wanted_tags([c], {local.id: local}, engine) == {}
    assert wanted_tags([c], images, engine) == {
        "127.0.0.1:5000": frozenset({("team/app", "latest")})
    }
    # stopped, or pinned by digest: no verdict / a reason
    assert image_update(replace(c, state="exited"), images, {}, engine) is None
    pinned = replace(c, image=f"127.0.0.1:5000/team/app@{running}")
    assert image_update(pinned, images, {}, engine).reason == "pinned by digest"


def test_containerd_store_compares_the_image_id_itself() -> None:
    """docker29 (recorded): the image ID is the manifest digest, repeated in RepoDigests."""
    raw = load_json("docker29/image_inspect_busybox.json")
    image = parse_image(raw)
    engine = engine_of(D29_INFO)
    assert engine.containerd_store
    assert "127.0.0.0/8" in engine.insecure_registries
    ref = "127.0.0.1:5000/team/app:latest"
    raw_no_digests = {**raw, "RepoDigests": []}
    image = parse_image(raw_no_digests)
    c = container_of(ref, image.id)
    got = image_update(c, {image.id: image}, check(ref, image.id), engine)
    assert got is not None
    assert (got.available, got.running) == (False, (image.id,))
    got = image_update(c, {image.id: image}, check(ref, "sha256:" + "4" * 64), engine)
    assert got.available is True


def test_an_index_is_compared_by_the_entry_of_the_containers_platform() -> None:
    raw = load_json("image_inspect_busybox.json")
    mine, other = "sha256:" + "5" * 64, "sha256:" + "6" * 64
    raw["RepoDigests"] = [f"r.example/app@{mine}"]
    image = parse_image(raw)
    ref = "r.example/app:1"
    c = container_of(ref, image.id)
    engine = engine_of(D20_INFO)
    index = "sha256:" + "7" * 64

    def entries(*pairs: tuple[str, str]) -> tuple[PlatformManifest, ...]:
        return tuple(PlatformManifest("linux", arch, "", d) for arch, d in pairs)

    arch = image.architecture
    current = check(ref, index, platforms=entries((arch, mine), ("s390x", other)))
    assert image_update(c, {image.id: image}, current, engine).available is False
    moved = check(ref, index, platforms=entries((arch, other), ("s390x", mine)))
    assert image_update(c, {image.id: image}, moved, engine).available is True
    absent = check(ref, index, platforms=entries(("s390x", mine)))
    assert image_update(c, {image.id: image}, absent, engine).reason == "platform not in index"


def test_index_entries_skip_attestations_and_garbage() -> None:
    body = json.dumps(
        {
            "manifests": [
                {
                    "digest": "sha256:a",
                    "platform": {"os": "linux", "architecture": "arm", "variant": "v7"},
                },
                {"digest": "sha256:b", "platform": {"os": "unknown", "architecture": "unknown"}},
                {"digest": 3, "platform": {"os": "linux", "architecture": "amd64"}},
                "nonsense",
            ]
        }
    ).encode()
    assert parse_index(body) == (PlatformManifest("linux", "arm", "v7", "sha256:a"),)
    assert parse_index(b"not json") == ()


def test_log_file_growth_truncation_and_rotation_on_real_files(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    path.write_bytes(b"x" * 100)
    first = look(str(path), None)
    assert (first.size_bytes, first.written_bytes) == (100, 0)
    with path.open("ab") as f:
        f.write(b"y" * 50)
    grown = look(str(path), first)
    assert (grown.size_bytes, grown.written_bytes) == (150, 50)
    with path.open("ab") as f:  # written after the last look, then the driver rotates
        f.write(b"z" * 30)
    path.rename(str(path) + ".1")
    path.write_bytes(b"n" * 20)
    rotated = look(str(path), grown)
    assert rotated.size_bytes == 20
    assert rotated.written_bytes == 50 + 30 + 20  # the renamed file's tail, found by inode
    # a compressed rotation is a new inode: its tail is not known, the new file counts
    (tmp_path / "c-json.log.1").unlink()
    path.rename(str(path) + ".1.gz")
    path.write_bytes(b"m" * 7)
    again = look(str(path), rotated)
    assert again.written_bytes == rotated.written_bytes + 7
    # truncated in place (copytruncate)
    os.truncate(path, 2)
    assert look(str(path), again).written_bytes == again.written_bytes + 2
    missing = look(str(tmp_path / "gone.log"), again)
    assert (missing.size_bytes, missing.error) == (None, "no log file")


def test_log_paths_by_driver_and_the_host_docker_root() -> None:
    engine = engine_of(D20_INFO)
    doc = load_json("inspect_running.json")
    c = parse_container(doc)
    assert c.log is not None
    assert (c.log.driver, c.log.max_size, c.log.bounded) == ("json-file", "", False)
    assert log_path(c, engine, "") == doc["LogPath"]
    assert log_path(c, engine, "/host/docker") == doc["LogPath"].replace(
        "/var/lib/docker", "/host/docker", 1
    )
    doc["HostConfig"]["LogConfig"] = {"Type": "local", "Config": {}}
    doc["LogPath"] = ""
    local = parse_container(doc)
    assert (local.log.max_size, local.log.max_file) == ("20m", "5")
    assert log_path(local, engine, "") == (
        f"/var/lib/docker/containers/{local.id}/local-logs/container.log"
    )
    doc["HostConfig"]["LogConfig"] = {"Type": "journald", "Config": {"tag": "x"}}
    assert log_path(parse_container(doc), engine, "") == ""
    doc["HostConfig"]["LogConfig"] = {
        "Type": "json-file",
        "Config": {"max-size": "10m", "splunk-token": "never-kept"},
    }
    bounded = parse_container(doc)
    assert (bounded.log.max_size, bounded.log.max_file) == ("10m", "1")
    assert "never-kept" not in repr(bounded)


def test_writable_layer_sizes_from_the_recorded_list() -> None:
    sizes = parse_container_sizes(load_json("containers_size.json"), 5.0)
    assert list(sizes.writable.values()) == [123456]
    assert sizes.time == 5.0


def test_ps_columns() -> None:
    assert ps._update({"image_update": {"available": True}}) == "yes"
    assert ps._update({"image_update": {"available": False}}) == "no"
    assert ps._update({"image_update": {"available": None, "reason": "not found"}}) == "?"
    assert ps._update({"image_update": None}) == "-"
    assert ps._log({"log": {"size_bytes": 2048, "max_size": None}}) == "2.0KiB!"
    assert ps._log({"log": {"size_bytes": 2048, "max_size": "10m"}}) == "2.0KiB"
    assert ps._log({"log": None}) == "-"


def test_insecure_registries_as_the_engine_lists_them() -> None:
    engine = engine_of(D29_INFO)
    assert _insecure("127.0.0.1:5000", engine)
    assert _insecure("[::1]:5000", engine)
    assert not _insecure("registry.example:5000", engine)
    assert not _insecure("10.0.0.1:5000", engine)


def test_the_check_interval_floor_and_what_turns_the_collector_on() -> None:
    with pytest.raises(ConfigError):
        parse_check_interval("4m")
    assert parse_check_interval("5m") == 300.0
    assert "image_updates" in parse_settings(["--registry.check-running"], {}).collectors
    on = parse_settings(["--registry.url", "http://127.0.0.1:5000"], {}).collectors
    assert {"image_updates", "registry"} <= set(on)
    assert "image_updates" not in parse_settings([], {}).collectors
    with pytest.raises(SystemExit):
        parse_settings(["--collector.image_updates"], {})


def test_no_verdict_without_an_image_reference_or_a_checked_tag() -> None:
    assert (
        image_update(container_of(f"sha256:{'c' * 64}", "sha256:" + "c" * 64), {}, {}, None) is None
    )
    assert LogFile("p").written_bytes == 0


def test_containerd_store_an_index_naming_the_platform_manifest_the_container_runs() -> None:
    """docker29 (recorded): inspect's ImageManifestDescriptor names the platform manifest;
    a container started from a pushed index (its image ID) runs that manifest."""
    doc = load_json("docker29/inspect_running.json")
    platform = doc["ImageManifestDescriptor"]["digest"]
    index = "sha256:" + "8" * 64
    doc["Image"] = index
    doc["Config"]["Image"] = "127.0.0.1:5000/team/app:latest"
    c = parse_container(doc)
    assert c.image_manifest == platform
    raw = load_json("docker29/image_inspect_busybox.json")
    image = replace(parse_image(raw), id=index, repo_digests=())
    engine = engine_of(D29_INFO)
    moved_index = "sha256:" + "9" * 64
    entries = (PlatformManifest("linux", image.architecture, "", platform),)
    got = image_update(c, {index: image}, check(c.image, moved_index, platforms=entries), engine)
    assert got is not None
    assert got.running == (index, platform)
    assert got.available is False
    other = (PlatformManifest("linux", image.architecture, "", "sha256:" + "a" * 64),)
    assert image_update(
        c, {index: image}, check(c.image, moved_index, platforms=other), engine
    ).available
