"""House rules that must not decay: import boundaries, declarations, generated docs."""

from __future__ import annotations

import ast
from pathlib import Path

from exporter import docs
from exporter.collectors import CATALOGUE, COLLECTORS

PACKAGE = Path(__file__).parent.parent / "exporter"
ROOT = PACKAGE.parent


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


LAYERS = (
    "clock",
    "options",
    "engine",
    "registry",
    "inventory",
    "stats",
    "collectors",
    "render",
    "web",
    "cli",
    "docs",
)
"""The data's path, bottom first: a module may import its own folder and the folders
before its own, never one after it. Registries are a source beside the engine: the
inventory publishes their snapshots, so their models sit below it."""


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 else -1


def test_imports_point_down_the_data_path() -> None:
    """The root package may import only the engine's sslguard: it must run before anyone
    imports aiohttp (see exporter/engine/sslguard.py)."""
    upward = []
    for path in modules():
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if module == "exporter.__init__":
            assert {n.rsplit(".", 1)[0] for n in imports_of(path)} <= {
                "exporter.engine",
                "exporter.engine.sslguard",
            }
            continue
        if module == "exporter.__main__":
            continue
        own = layer(module)
        assert own >= 0, f"{module}: not in a folder of LAYERS"
        upward.extend(
            f"{module} -> {name}"
            for name in imports_of(path)
            if name.startswith("exporter.") and name != "exporter.__version__"
            if layer(name) > own
        )
    assert not upward


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from exporter.web.http import build\nfrom exporter.engine import api\n")
    names = imports_of(module)
    assert {n for n in names if layer(n) > layer("exporter.inventory.store")} >= {
        "exporter.web.http"
    }


def test_only_the_engine_adapter_and_the_registry_client_open_client_sessions() -> None:
    """The Docker API is spoken in one place: only the adapter makes a client session and
    only it imports aiodocker; the registries' HTTP, in registry/client.py."""
    users = {
        p.relative_to(PACKAGE).as_posix() for p in modules() if "ClientSession(" in p.read_text()
    }
    assert users == {"engine/adapter.py", "registry/client.py"}
    importers = {
        p.relative_to(PACKAGE).as_posix()
        for p in modules()
        if any(n.split(".")[0] == "aiodocker" for n in imports_of(p))
    }
    assert importers == {"engine/adapter.py"}


def test_aiohttp_is_imported_by_the_two_clients_and_the_http_module_only() -> None:
    """The client side of aiohttp belongs to the engine adapter and the registry client
    (sslguard only imports it early, without CA loading), the server side to web/http.py."""
    users = {
        p.relative_to(PACKAGE).as_posix()
        for p in modules()
        if any(n.split(".")[0] == "aiohttp" for n in imports_of(p))
        or 'import_module("aiohttp")' in p.read_text()
    }
    assert users == {
        "engine/adapter.py",
        "engine/sslguard.py",
        "registry/client.py",
        "web/http.py",
    }


def test_only_the_http_module_imports_aiohttp_web() -> None:
    users = {
        p.relative_to(PACKAGE).as_posix()
        for p in modules()
        if any(n in ("aiohttp.web", "aiohttp.web.web") for n in imports_of(p))
    }
    assert users == {"web/http.py"}


def test_collectors_import_no_io_libraries() -> None:
    """Collectors are pure: no engine, no HTTP, no files."""
    forbidden = (
        "aiohttp",
        "aiodocker",
        "exporter.engine.adapter",
        "exporter.stats",
        "exporter.inventory.watcher",
        "exporter.web.http",
        "os",
        "subprocess",
    )
    for path in (PACKAGE / "collectors").glob("*.py"):
        bad = [n for n in imports_of(path) if n.split(".")[0] in forbidden or n in forbidden]
        assert not bad, (path.name, bad)


def test_no_global_registry() -> None:
    for path in modules():
        text = path.read_text()
        assert "prometheus_client.REGISTRY" not in text, path
        assert "import REGISTRY" not in text, path


def test_docs_metrics_md_matches_declarations() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text() == docs.render()


def test_every_metric_declared_once_with_a_collector_or_as_exporter_metric() -> None:
    for name, spec in CATALOGUE.items():
        assert name.startswith("docker_")
        assert spec.collector == "" or spec.collector in COLLECTORS
        if spec.collector:
            assert spec in COLLECTORS[spec.collector].metrics, name


def test_no_unbounded_labels() -> None:
    """Commands, environment and error strings never become labels."""
    forbidden = {"command", "cmd", "env", "error", "args", "message"}
    for spec in CATALOGUE.values():
        assert not forbidden & set(spec.labels), spec.name


def test_readme_flag_table_matches_the_parser() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- flags:start")
    table = readme[readme.index("\n", start) + 1 : readme.index("<!-- flags:end -->")]
    assert table == docs.flags_table()
