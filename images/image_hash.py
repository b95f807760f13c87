"""The content hash that tells whether a built image is up to date with its sources."""

from __future__ import annotations

import hashlib
from pathlib import Path

import image_recipes

IMAGES_DIR = Path(__file__).resolve().parent
HASH_LABEL = "greenbar.content-hash"
SKIPPED_PARTS = frozenset({"__pycache__"})


def _folder_files(name: str) -> list[Path]:
    """Returns every file under ``images/<name>/``, sorted by relative path."""
    folder = IMAGES_DIR / name
    files = [p for p in folder.rglob("*") if p.is_file() and not SKIPPED_PARTS & set(p.parts)]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def content_hash(name: str) -> str:
    """Returns the sha256 hex digest of an image's folder and its external inputs.

    Args:
        name: Image folder name under ``images/``.
    """
    digest = hashlib.sha256()
    folder = IMAGES_DIR / name
    for path in _folder_files(name):
        data = path.read_bytes()
        digest.update(f"file\0{path.relative_to(folder).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    for blob in image_recipes.external_inputs(name):
        digest.update(f"external\0{len(blob)}\0".encode())
        digest.update(blob)
    return digest.hexdigest()
