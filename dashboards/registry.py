"""(f) Registries: the private registries the exporter watches (--registry.url), and the
Engine's pushes and pulls by registry."""

from __future__ import annotations

from typing import Any

from dashboards.lib.layout import alert_annotation, dashboard, query_var
from dashboards.lib.panels import (
    stat,
    state_timeline,
    table,
    target,
    threshold_steps,
    timeseries,
)
from dashboards.lib.promql import SCOPE, UID_REGISTRY, rate, sel

REGISTRY_SCOPE = SCOPE + ', registry=~"$registry"'
"""The matchers of every registry query: job, instance and the registry picked."""

UP_MAPPING = [
    {
        "type": "value",
        "options": {
            "0": {"text": "down", "color": "red", "index": 0},
            "1": {"text": "up", "color": "green", "index": 1},
        },
    }
]


def registries() -> dict[str, Any]:
    status = [
        stat(
            "Registry",
            "docker_registry_up: 1 when the latest poll succeeded (GET /v2/ answered 200 "
            "after authentication and the catalog was read). /inventory names the reason "
            "of a failure.",
            "none",
            [target(sel("docker_registry_up", base=REGISTRY_SCOPE), "{{registry}}")],
            w=6,
            mappings=UP_MAPPING,
            color_mode="background",
        ),
        stat(
            "Repositories",
            "Repositories in each registry's catalog (at most --registry.max-repositories).",
            "short",
            [target(sel("docker_registry_repositories", base=REGISTRY_SCOPE), "{{registry}}")],
            w=4,
        ),
        stat(
            "Tags",
            "Tags over all repositories of each registry.",
            "short",
            [
                target(
                    f"sum by (registry) ({sel('docker_registry_tags', base=REGISTRY_SCOPE)})",
                    "{{registry}}",
                )
            ],
            w=4,
        ),
        stat(
            "Catalog truncated",
            "1 when a catalog holds more repositories than --registry.max-repositories: the "
            "rest are not counted.",
            "none",
            [target(sel("docker_registry_catalog_truncated", base=REGISTRY_SCOPE), "{{registry}}")],
            w=4,
            thresholds=threshold_steps((None, "green"), (1, "orange")),
        ),
        stat(
            "Certificate expires in",
            "Time until each https registry's TLS certificate expires (verified "
            "certificates only; DockerRegistryCertificateExpiringSoon fires under 30 days).",
            "s",
            [
                target(
                    sel("docker_registry_certificate_expiry_timestamp_seconds", base=REGISTRY_SCOPE)
                    + " - time()",
                    "{{registry}}",
                )
            ],
            w=6,
            thresholds=threshold_steps((None, "red"), (7 * 86400, "orange"), (30 * 86400, "green")),
        ),
        state_timeline(
            "Registry up",
            "Each registry's poll result over time.",
            [target(sel("docker_registry_up", base=REGISTRY_SCOPE), "{{registry}} {{instance}}")],
            mappings=UP_MAPPING,
        ),
    ]
    polling = [
        timeseries(
            "Probe duration",
            "How long each poll's GET /v2/ took, token request included.",
            "s",
            [
                target(
                    sel("docker_registry_probe_duration_seconds", base=REGISTRY_SCOPE),
                    "{{registry}}",
                )
            ],
            w=8,
        ),
        timeseries(
            "Requests by status code",
            "Requests the exporter sends to each registry (its token server's included), by "
            "HTTP status code; `timeout` and `error` are requests without an answer.",
            "reqps",
            [
                target(
                    "sum by (registry, code) ("
                    + rate("docker_registry_requests_total", base=REGISTRY_SCOPE)
                    + ")",
                    "{{registry}} {{code}}",
                )
            ],
            w=8,
        ),
        timeseries(
            "Time since the last successful poll",
            "Age of the repositories and tags shown: grows by the poll interval between "
            "polls, and without bound while a registry is down.",
            "s",
            [
                target(
                    "time() - "
                    + sel("docker_registry_last_success_timestamp_seconds", base=REGISTRY_SCOPE),
                    "{{registry}}",
                )
            ],
            w=8,
        ),
    ]
    content = [
        timeseries(
            "Repositories and tags",
            "Catalog size and tag count of each registry over time.",
            "short",
            [
                target(
                    sel("docker_registry_repositories", base=REGISTRY_SCOPE),
                    "repositories {{registry}}",
                ),
                target(
                    f"sum by (registry) ({sel('docker_registry_tags', base=REGISTRY_SCOPE)})",
                    "tags {{registry}}",
                ),
            ],
        ),
        timeseries(
            "Pushes and pulls",
            "Image push and pull events of the Engine per second, by the registry of the "
            "reference (docker.io for Docker Hub), whether watched or not.",
            "ops",
            [
                target(
                    f"sum by (registry) ({rate('docker_image_pushes_total')})",
                    "push {{registry}}",
                ),
                target(
                    f"sum by (registry) ({rate('docker_image_pulls_total')})",
                    "pull {{registry}}",
                ),
            ],
        ),
        table(
            "Repositories",
            "Each repository of the watched registries with its tag count.",
            "short",
            [target(sel("docker_registry_tags", base=REGISTRY_SCOPE))],
            h=8,
            w=12,
            rename={"Value": "tags"},
            order=["registry", "repository", "Value", "instance"],
            sort_by="tags",
            desc=True,
        ),
        table(
            "Tag sizes",
            "What a pull of each tag downloads (its manifest's config and layers); only "
            "with --registry.manifests.",
            "bytes",
            [target(sel("docker_registry_manifest_size_bytes", base=REGISTRY_SCOPE))],
            h=8,
            w=12,
            rename={"Value": "size"},
            order=["registry", "repository", "tag", "Value", "instance"],
            sort_by="size",
            desc=True,
        ),
    ]
    freshness = [
        table(
            "Containers on an outdated image",
            "Running containers whose image's tag now points to another image in the "
            "registry (docker_container_image_update_available == 1, checked every "
            "--registry.check-interval): pull and recreate them. Containers whose verdict is "
            "unknown are absent; /inventory tells why.",
            "none",
            [target(f"{sel('docker_container_image_update_available', base=SCOPE)} == 1")],
            w=14,
            h=8,
            hide=["Value"],
            order=["name", "image", "id", "instance"],
        ),
        table(
            "Tag checks",
            "Each tag the running containers use, with the age of the registry's latest "
            "answer about it (a HEAD on its manifest).",
            "s",
            [target(f"time() - {sel('docker_image_registry_check_timestamp_seconds', base=SCOPE)}")],
            w=10,
            h=8,
            rename={"Value": "checked ago"},
            order=["registry", "repository", "tag", "Value", "instance"],
            sort_by="checked ago",
            desc=True,
        ),
    ]
    registry_var = query_var(
        "registry",
        "registry",
        'label_values(docker_registry_up{job=~"$job", instance=~"$instance"}, registry)',
    )
    return dashboard(
        UID_REGISTRY,
        "Registries",
        "The private registries watched with --registry.url: reachability, probe latency, "
        "requests, certificate expiry, repositories and tags; the Engine's pushes and pulls; "
        "containers running an image their tag no longer points to.",
        [
            ("Status", status),
            ("Polling", polling),
            ("Content", content),
            ("Image freshness", freshness),
        ],
        variables=[registry_var],
        annotations=[alert_annotation(SCOPE)],
        time_from="now-6h",
    )
