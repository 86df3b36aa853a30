"""Images: what `docker images`, `docker image inspect` and `docker history` show."""

from __future__ import annotations

from exporter.collectors.base import Options, Row, declare, register_objects
from exporter.engine.resources import Image

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


@register_objects(
    IMAGES,
    "Images: tags, size, layer count and build time.",
    metrics=[INFO, SIZE, LAYERS, CREATED],
    source="images",
    order=lambda image: (image.tags, image.id),
)
def rows(image: Image, _joined: tuple[()], _options: Options) -> tuple[tuple[Row, ...], ...]:
    ids = (image.short_id,)
    return (
        tuple(((*ids, repository, tag), 1) for repository, tag in image.tags),
        ((ids, image.size_bytes),),
        ((ids, image.layers),),
        ((ids, image.created),) if image.created else (),
    )
