"""Builds the Debian root file systems under the python-pytest and evaluator images and imports
them into Docker.

A base is made once per recipe: its tag carries the first 12 hex digits of the recipe's sha256,
so an engine that already holds that tag never runs debootstrap again. procps is included in the
python-pytest base because minbase has no ``kill`` binary (only the shell builtin).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import ImageNotFound

MIRROR = "http://deb.debian.org/debian"
TAR_EXCLUDES = (
    "./dev/*",
    "./proc/*",
    "./sys/*",
    "./var/cache/apt/archives/*.deb",
    "./var/lib/apt/lists/*",
)
RECIPE_LABEL = "greenbar.recipe-hash"


@dataclass(frozen=True)
class Base:
    """One debootstrap minbase root file system, imported as ``<repository>:<recipe hash>``.

    Args:
        repository: The image repository the base is imported under.
        packages: Debian packages added to minbase, comma-separated as debootstrap takes them.
    """

    repository: str
    packages: str

    @property
    def debootstrap_args(self) -> tuple[str, ...]:
        """Returns debootstrap's arguments before the target directory and mirror."""
        return ("--variant=minbase", f"--include={self.packages}", "bookworm")

    @property
    def recipe(self) -> str:
        """Returns the recipe as one line of text: what the base's content hash covers."""
        return " ".join(
            ["debootstrap", *self.debootstrap_args, "ROOTFS", MIRROR, "&& tar -C ROOTFS -c ."]
            + [f"--exclude={pattern}" for pattern in TAR_EXCLUDES]
        )


PYTHON_PYTEST = Base("greenbar/python-pytest-base", "python3,python3-pytest,procps")
# greenbar's own rag-lambda evaluator: Python and Ruby, nothing else.
EVALUATOR = Base("greenbar/evaluator-base", "python3,ruby")


def recipe_hash(base: Base = PYTHON_PYTEST) -> str:
    """Returns the sha256 hex digest of a base's recipe."""
    return hashlib.sha256(base.recipe.encode()).hexdigest()


def base_tag(base: Base = PYTHON_PYTEST) -> str:
    """Returns the image tag a base is imported under, e.g. ``repo:0123456789ab``."""
    return f"{base.repository}:{recipe_hash(base)[:12]}"


def ensure_base(client: docker.DockerClient, base: Base = PYTHON_PYTEST) -> str:
    """Makes sure a base image exists, building it with debootstrap if it does not.

    Args:
        client: Docker client of the engine that must hold the base.
        base: Which base.

    Returns:
        The base image's tag.

    Raises:
        RuntimeError: debootstrap, tar or the import failed.
    """
    tag = base_tag(base)
    try:
        client.images.get(tag)
        return tag
    except ImageNotFound:
        pass
    print(f"{tag}: running debootstrap (about a minute)...", flush=True)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="greenbar-rootfs-", dir="/var/tmp"))
    rootfs = workdir / "rootfs"
    tarball = workdir / "rootfs.tar"
    try:
        _run(["debootstrap", *base.debootstrap_args, str(rootfs), MIRROR])
        excludes = [f"--exclude={pattern}" for pattern in TAR_EXCLUDES]
        _run(["tar", *excludes, "-C", str(rootfs), "-cf", str(tarball), "."])
        _import(client, tarball, tag, recipe_hash(base))
    finally:
        _remove_workdir(workdir)
    print(f"{tag}: base built in {time.monotonic() - started:.1f}s", flush=True)
    return tag


def stale_bases(client: docker.DockerClient, base: Base = PYTHON_PYTEST) -> list[str]:
    """Returns the tags of a base's images made from an older recipe."""
    current = base_tag(base)
    tags = [t for image in client.images.list(name=base.repository) for t in image.tags]
    return sorted(t for t in tags if t.startswith(f"{base.repository}:") and t != current)


def _run(argv: list[str]) -> None:
    """Runs a command, raising RuntimeError with the tail of its output when it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise RuntimeError(f"{argv[0]} exited with {result.returncode}:\n{tail}")


def _import(client: docker.DockerClient, tarball: Path, tag: str, recipe: str) -> None:
    """Imports a root file system tar as an image and checks the engine reported no error."""
    repository, _, version = tag.partition(":")
    changes = [f"LABEL {RECIPE_LABEL}={recipe}", 'CMD ["/bin/sh"]']
    reply = client.api.import_image_from_file(
        str(tarball), repository=repository, tag=version, changes=changes
    )
    for line in str(reply).splitlines():
        message = json.loads(line) if line.startswith("{") else {}
        if "error" in message:
            raise RuntimeError(f"import of {tag} failed: {message['error']}")
    client.images.get(tag)


def _mounts_below(directory: Path) -> list[str]:
    """Returns the mount points strictly inside directory, deepest last."""
    prefix = f"{directory}/"
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts]
    return sorted(point for point in points if point.startswith(prefix))


def _remove_workdir(workdir: Path) -> None:
    """Removes the temporary rootfs, first lazily unmounting what a failed debootstrap left.

    Raises:
        RuntimeError: something is still mounted inside, so removing could reach the host.
    """
    for point in reversed(_mounts_below(workdir)):
        subprocess.run(["umount", "-l", point], check=False)
    if _mounts_below(workdir):
        raise RuntimeError(f"{workdir} still has mounts inside; left in place")
    shutil.rmtree(workdir)
