"""Language tracks: a slug (`python`) mapped to its live image, and every version it has had.

A version is the tag of an image deployed to the track; a run may pin one. Deploying moves the
live image; older versions stay available to runs that pin them.

Key: greenbar:tracks  hash: slug -> JSON {"image", "versions": {tag: image}, "deployed_at"}
"""

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from app.errors import InvalidRequest
from app.externals import clock
from app.externals.store import Client, translated
from app.images.allowlist import normalized

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
KEY = "greenbar:tracks"


def checked_slug(slug: object, field: str = "track") -> str:
    """Raises InvalidRequest unless `slug` is 1 to 32 lower-case letters, digits, '_' or '-'."""
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        raise InvalidRequest(field, "must be 1 to 32 lower-case letters, digits, '_' or '-'")
    return slug


def version_of(image: str) -> str:
    """The tag of `image`: its version within a track."""
    return normalized(image).split("@", 1)[0].rsplit(":", 1)[1]


class TrackStore:
    """Args: client: Redis. now: wall-clock seconds since the epoch."""

    def __init__(self, client: Client, now: Callable[[], float] = clock.wall) -> None:
        self._redis = client
        self._now = now

    def deploy(self, slug: str, image: str) -> dict[str, Any]:
        """Makes `image` the live version of track `slug`; returns the track."""
        track = self.get(slug) or {"versions": {}}
        track["versions"][version_of(image)] = image
        track.update(image=image, deployed_at=self._now())
        with translated():
            self._redis.hset(KEY, slug, json.dumps(track))
        return track

    def get(self, slug: str) -> dict[str, Any] | None:
        with translated():
            raw = self._redis.hget(KEY, slug)
        return None if raw is None else json.loads(raw)

    def all(self) -> dict[str, dict[str, Any]]:
        with translated():
            raw = self._redis.hgetall(KEY)
        return {k.decode(): json.loads(v) for k, v in sorted(raw.items())}

    def images(self) -> list[str]:
        """Every image of every version of every track."""
        return sorted({i for t in self.all().values() for i in t["versions"].values()})

    def resolve(self, slug: str, version: str | None) -> str:
        """The image a run of track `slug` (pinned to `version`, if given) uses.

        Raises:
            InvalidRequest: no such track, or no such version of it.
        """
        track = self.get(slug)
        if track is None:
            raise InvalidRequest("track", f"no track {slug} is deployed")
        if version is None:
            return str(track["image"])
        if version not in track["versions"]:
            known = ", ".join(sorted(track["versions"]))
            raise InvalidRequest("version", f"track {slug} has no version {version} ({known})")
        return str(track["versions"][version])


def concrete(images: Iterable[str]) -> list[str]:
    """The allowlist entries that name one image (not `name:*`)."""
    return [i for i in images if not i.endswith(":*")]


def to_prepull(allowlist: Iterable[str], scope: Iterable[str], tracks: TrackStore) -> list[str]:
    """What a starting worker pulls onto its node: a scoped worker only its tracks' live
    images, so it is ready sooner; a generic one every track's and the allowlist's."""
    scope = list(scope)
    deployed = tracks.all()
    if scope:
        return sorted({deployed[t]["image"] for t in scope if t in deployed})
    return sorted({*concrete(allowlist), *(t["image"] for t in deployed.values())})
