"""Images the live deployment tests build without pulling: a debootstrap Debian base
(`dxt-debian:local`, cached), the exporter from deploy/Dockerfile on it, and a Prometheus
image made of Debian sid's Prometheus 3 binary on the same base.

The build containers cannot reach PyPI, so the exporter is built with the wheelhouse path
of the Dockerfile: `pip wheel` on the host fills `deploy/wheels` of a temporary context.
"""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import docker, skip_testbed_limit
from prometheus3 import FETCH, prometheus3

import exporter

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BASE_IMAGE = "dxt-debian:local"
STAGE_LABEL = "docker-exporter.stage=build"
SOURCES = Path("/etc/apt/sources.list.d/debian.sources")


def _mirror() -> str:
    """The Debian mirror apt uses here (its first non-security URI), else deb.debian.org."""
    if SOURCES.exists():
        for stanza in SOURCES.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines() if re.match(r"^\w[\w-]*:", line)
            )
            uri = fields.get("URIs", "").split()
            if uri and "security" not in fields.get("Suites", ""):
                return uri[0]
    return "http://deb.debian.org/debian"


def _unmount_under(path: Path) -> None:
    """Unmount whatever an interrupted debootstrap left mounted below `path`, deepest first."""
    prefix = str(path.resolve()) + "/"
    mounts = [
        line.split()[4].replace("\\040", " ")
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def debian_base() -> str:
    """`dxt-debian:local`: debootstrap minbase bookworm with python3, venv and pip; cached."""
    cached = subprocess.run(
        ["docker", "image", "inspect", BASE_IMAGE], capture_output=True, check=False
    )
    if cached.returncode == 0:
        return BASE_IMAGE
    if shutil.which("debootstrap") is None:
        skip_testbed_limit("debootstrap is not installed (run scripts/testbed)")
    rootfs = Path(tempfile.mkdtemp(prefix="dxt-debootstrap-", dir="/var/tmp"))
    try:
        result = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,python3-pip",
                "bookworm",
                str(rootfs),
                _mirror(),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-5:])
            skip_testbed_limit(f"debootstrap cannot build the Debian base here:\n{tail}")
        for cache in ("var/cache/apt", "var/lib/apt/lists"):
            for entry in (rootfs / cache).glob("**/*"):
                if entry.is_file() and entry.name != "lock":
                    entry.unlink()
        with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
            imported = subprocess.run(
                ["docker", "import", "-", BASE_IMAGE],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
        assert imported.returncode == 0, f"docker import failed: {imported.stderr}"
    finally:
        _unmount_under(rootfs)
        shutil.rmtree(rootfs, ignore_errors=True)
    return BASE_IMAGE


def exporter_context(into: Path) -> Path:
    """A build context with what the Dockerfile copies, and a wheelhouse built on the host."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, into / name)
    shutil.copytree(
        ROOT / "exporter", into / "exporter", ignore=shutil.ignore_patterns("__pycache__")
    )
    (into / "deploy" / "wheels").mkdir(parents=True)
    shutil.copy2(DOCKERFILE, into / "deploy" / "Dockerfile")
    wheels = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(into / "deploy" / "wheels"),
            str(into),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert wheels.returncode == 0, f"pip wheel failed: {wheels.stderr}"
    return into


def build_exporter_image(tag: str, *, host: list[str] | None = None) -> None:
    """deploy/Dockerfile on the Debian base, tagged `tag` (`host`: docker's -H arguments)."""
    base = debian_base()
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    before = stage_leftovers()
    with tempfile.TemporaryDirectory(prefix="dxt-context-") as tmp:
        context = exporter_context(Path(tmp))
        docker(
            *(host or []),
            "build",
            "--quiet",
            "--force-rm",  # no intermediate container left behind, even on failure
            "--file",
            str(context / "deploy" / "Dockerfile"),
            "--build-arg",
            f"BASE={base}",
            "--build-arg",
            f"VERSION={exporter.__version__}",
            "--build-arg",
            f"REVISION={revision or 'unknown'}",
            "--build-arg",
            "CREATED=" + datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--tag",
            tag,
            str(context),
            timeout=600,
        )
    leftovers = stage_leftovers() - before
    if leftovers:
        docker("rmi", "--force", *leftovers, check=False)


def stage_leftovers() -> set[str]:
    """The legacy builder's leftover build-stage images (deploy/Dockerfile labels them)."""
    return set(
        docker(
            "images", "-q", "--filter", "dangling=true", "--filter", f"label={STAGE_LABEL}"
        ).split()
    )


PROMETHEUS_DOCKERFILE = """\
FROM {base}
COPY prometheus /bin/
RUN mkdir -p /prometheus /etc/prometheus && chown 65534:65534 /prometheus
USER 65534
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
"""


def prometheus3_binary() -> Path:
    """Debian sid's Prometheus 3 (scripts/testbed fetches it), else a test-bed limit."""
    binary = prometheus3()
    if binary is None:
        skip_testbed_limit(f"Prometheus 3 is not fetched ({FETCH})")
    return Path(binary)


def build_prometheus_image(tag: str) -> None:
    """Prometheus 3 (the server binary) on the Debian base, laid out as
    the official image is: config in /etc/prometheus, data in /prometheus, user nobody."""
    base = debian_base()
    binary = prometheus3_binary()
    with tempfile.TemporaryDirectory(prefix="dxt-prometheus-") as tmp:
        context = Path(tmp)
        shutil.copy2(binary, context / "prometheus")
        (context / "Dockerfile").write_text(PROMETHEUS_DOCKERFILE.format(base=base))
        docker("build", "--quiet", "--force-rm", "--tag", tag, str(context), timeout=600)


ALERTMANAGER_DOCKERFILE = """\
FROM {base}
COPY alertmanager /bin/alertmanager
COPY share /usr/share/prometheus/alertmanager
RUN mkdir -p /alertmanager /etc/alertmanager && chown 65534:65534 /alertmanager
USER 65534
WORKDIR /alertmanager
EXPOSE 9093
ENTRYPOINT ["/bin/alertmanager"]
CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]
"""


def build_alertmanager_image(tag: str) -> None:
    """Debian 12's Alertmanager (package prometheus-alertmanager) on the Debian base, laid out
    as the official image is."""
    base = debian_base()
    binary = shutil.which("prometheus-alertmanager")
    if binary is None:
        skip_testbed_limit("prometheus-alertmanager is not installed (scripts/testbed)")
    with tempfile.TemporaryDirectory(prefix="dxt-alertmanager-") as tmp:
        context = Path(tmp)
        shutil.copy2(binary, context / "alertmanager")
        # Debian's build reads its notification templates from there.
        shutil.copytree("/usr/share/prometheus/alertmanager", context / "share", symlinks=True)
        (context / "Dockerfile").write_text(ALERTMANAGER_DOCKERFILE.format(base=base))
        docker("build", "--quiet", "--force-rm", "--tag", tag, str(context), timeout=600)
