"""What each bundled image needs beyond the files in its own folder under ``images/``."""

from __future__ import annotations

import shutil
from pathlib import Path

import debootstrap_base
import docker

NAMES = ("busybox-sh", "python-pytest", "evaluator", "python-exercism", "cyber-dojo-python-pytest")
BUSYBOX = Path("/bin/busybox")
BASES = {"python-pytest": debootstrap_base.PYTHON_PYTEST, "evaluator": debootstrap_base.EVALUATOR}
BASES["python-exercism"] = debootstrap_base.PYTHON_PYTEST  # exercism's interface, same base
BASES["cyber-dojo-python-pytest"] = debootstrap_base.PYTHON_PYTEST  # it has bash: no new base


def external_inputs(name: str) -> list[bytes]:
    """Returns the inputs outside ``images/<name>/`` that the image's content hash covers.

    Args:
        name: Image folder name under ``images/``.
    """
    if name == "busybox-sh":
        return [BUSYBOX.read_bytes()]
    if name in BASES:
        return [BASES[name].recipe.encode()]
    return []


def prepare_context(client: docker.DockerClient, name: str, context: Path) -> dict[str, str]:
    """Completes a build context that already holds the image folder's files.

    Args:
        client: Docker client of the engine the image is built on.
        name: Image folder name under ``images/``.
        context: The temporary build context directory.

    Returns:
        The build args the image's Dockerfile expects.
    """
    if name == "busybox-sh":
        shutil.copy2(BUSYBOX, context / "busybox")
    if name in BASES:
        return {"BASE": debootstrap_base.ensure_base(client, BASES[name])}
    return {}


def superseded(client: docker.DockerClient, name: str) -> list[str]:
    """Returns helper images a fresh build of the image has made obsolete (old bases)."""
    return debootstrap_base.stale_bases(client, BASES[name]) if name in BASES else []
