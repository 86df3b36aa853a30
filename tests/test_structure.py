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


def test_only_the_engine_adapter_opens_client_sessions() -> None:
    """The Docker API is spoken in one place: only engine.py makes a client session and
    only engine.py imports aiodocker."""
    users = {
        p.relative_to(PACKAGE).as_posix() for p in modules() if "ClientSession(" in p.read_text()
    }
    assert users == {"engine.py"}
    importers = {
        p.relative_to(PACKAGE).as_posix()
        for p in modules()
        if any(n.split(".")[0] == "aiodocker" for n in imports_of(p))
    }
    assert importers == {"engine.py"}


def test_only_the_http_module_imports_aiohttp_web() -> None:
    users = {
        p.relative_to(PACKAGE).as_posix()
        for p in modules()
        if any(n in ("aiohttp.web", "aiohttp.web.web") for n in imports_of(p))
    }
    assert users == {"http.py"}


def test_collectors_import_no_io_libraries() -> None:
    """Collectors are pure: no engine, no HTTP, no files."""
    forbidden = ("aiohttp", "aiodocker", "exporter.engine", "exporter.http", "os", "subprocess")
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
