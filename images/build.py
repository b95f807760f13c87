"""Builds greenbar's bundled sandbox images through the Docker SDK (never the docker CLI).

Usage::

    .venv/bin/python images/build.py [NAME ...]    # no names: every image

Each image ``greenbar/<name>:latest`` carries the label ``greenbar.content-hash``: the sha256
of every file under ``images/<name>/`` plus the image's external inputs. An image whose label
already matches is left alone.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import docker
import image_recipes
from build_lock import build_lock
from docker.errors import APIError, BuildError, DockerException, ImageNotFound
from docker.models.images import Image
from image_hash import HASH_LABEL, IMAGES_DIR, content_hash

NAMES = image_recipes.NAMES


def image_tag(name: str) -> str:
    """Returns the tag an image is built under, e.g. ``greenbar/busybox-sh:latest``."""
    return f"greenbar/{name}:latest"


def _current_image(client: docker.DockerClient, name: str) -> Image | None:
    """Returns ``greenbar/<name>:latest``, or None when the engine does not hold it."""
    try:
        return client.images.get(image_tag(name))
    except ImageNotFound:
        return None


def _remove_quietly(client: docker.DockerClient, image: str) -> None:
    """Removes a superseded image; one still used by a container is left in place."""
    try:
        client.images.remove(image)
    except APIError as error:
        print(f"note: kept superseded image {image}: {error.explanation}", file=sys.stderr)


def build_image(client: docker.DockerClient, name: str) -> str:
    """Builds ``greenbar/<name>:latest`` unless an image with the same content hash exists.

    Builds on one machine are serialised by a file lock, so a concurrent caller waits and
    then finds the image up to date.

    Args:
        client: Docker client of the engine to build on.
        name: Image folder name under ``images/``.

    Returns:
        The image id (of the new build, or of the image that was already up to date).

    Raises:
        docker.errors.BuildError: a Dockerfile step failed.
        RuntimeError: making the base root file system failed.
    """
    with build_lock():
        return _build_locked(client, name)


def _build_locked(client: docker.DockerClient, name: str) -> str:
    """Does build_image's work while the build lock is held."""
    digest = content_hash(name)
    tag = image_tag(name)
    previous = _current_image(client, name)
    if previous and previous.labels.get(HASH_LABEL) == digest:
        print(f"{tag}: up to date ({digest[:12]})", flush=True)
        return previous.id
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"greenbar-{name}-") as tmp:
        context = Path(tmp)
        shutil.copytree(IMAGES_DIR / name, context, dirs_exist_ok=True)
        buildargs = image_recipes.prepare_context(client, name, context)
        image, _ = client.images.build(
            path=str(context),
            tag=tag,
            labels={HASH_LABEL: digest},
            buildargs=buildargs,
            rm=True,
            forcerm=True,
            pull=False,
            network_mode="none",  # offline by design, and independent of the engine's bridge
        )
    print(f"{tag}: built in {time.monotonic() - started:.1f}s ({digest[:12]})", flush=True)
    if previous and previous.id != image.id:
        _remove_quietly(client, previous.id)
    for stale in image_recipes.superseded(client, name):
        _remove_quietly(client, stale)
    return image.id


def _build_log_tail(error: BuildError) -> str:
    """Returns the last lines a failed build printed."""
    lines = [str(chunk.get("stream") or chunk.get("error") or "") for chunk in error.build_log]
    return "".join(lines[-20:]).rstrip()


def _build_reporting(client: docker.DockerClient, name: str) -> bool:
    """Builds one image; on failure prints why to stderr and returns False."""
    try:
        build_image(client, name)
    except BuildError as error:
        print(f"{image_tag(name)}: build failed: {error.msg}", file=sys.stderr)
        print(_build_log_tail(error), file=sys.stderr)
        return False
    except (DockerException, RuntimeError, OSError) as error:
        print(f"{image_tag(name)}: build failed: {error}", file=sys.stderr)
        return False
    return True


def main(argv: list[str]) -> int:
    """Builds the named images (all when none are named); returns the process exit status."""
    names = argv or list(NAMES)
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        print(f"unknown image(s): {', '.join(unknown)}; known: {', '.join(NAMES)}", file=sys.stderr)
        return 2
    try:
        client = docker.from_env(timeout=900)
    except DockerException as error:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        print(f"cannot reach the Docker engine at {host}: {error}", file=sys.stderr)
        return 1
    try:
        return 0 if all(_build_reporting(client, name) for name in names) else 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
