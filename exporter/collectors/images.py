"""Images: what `docker images`, `docker image inspect` and `docker history` show."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import Metric

from exporter.collectors.base import Options, add, declare, register
from exporter.inventory import Snapshot

IMAGES = "images"
INFO = declare(
    "docker_image_info",
    "info",
    "One series per repository and tag of an image, as docker images lists them; a "
    "dangling or digest-only image has `<none>` for what it lacks. id is the 12-digit short ID.",
    ["id", "repository", "tag"],
    collector=IMAGES,
)
SIZE = declare(
    "docker_image_size_bytes",
    "gauge",
    "Size of the image with all its layers, shared ones included (image inspect Size).",
    ["id"],
    collector=IMAGES,
)
LAYERS = declare(
    "docker_image_layers",
    "gauge",
    "Filesystem layers of the image (RootFS.Layers); docker history also lists 0-byte "
    "metadata steps.",
    ["id"],
    collector=IMAGES,
)
CREATED = declare(
    "docker_image_created_timestamp_seconds",
    "gauge",
    "When the image was built, in Unix seconds.",
    ["id"],
    collector=IMAGES,
)


@register(
    IMAGES,
    "Images: tags, size, layer count and build time.",
    metrics=[INFO, SIZE, LAYERS, CREATED],
    inputs=("images",),
)
def collect(snapshot: Snapshot, _options: Options) -> Iterable[Metric]:
    info, size, layers, created = INFO.new(), SIZE.new(), LAYERS.new(), CREATED.new()
    for image in sorted(snapshot.images.values(), key=lambda i: (i.tags, i.id)):
        ids = [image.short_id]
        for repository, tag in image.tags:
            add(info, [*ids, repository, tag], 1)
        add(size, ids, image.size_bytes)
        add(layers, ids, image.layers)
        if image.created:
            add(created, ids, image.created)
    yield from (info, size, layers, created)
