"""The operator's image allowlist: only these images may run."""

from collections.abc import Iterable

from app.errors import ImageNotAllowed


def normalized(image: str) -> str:
    """`name` and `name:latest` are one image; a digest reference stays as it is."""
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in last else f"{image}:latest"


def repository(image: str) -> str:
    """`name` of `name:tag` (a registry's port is not a tag)."""
    name = normalized(image).split("@", 1)[0]
    return name.rsplit(":", 1)[0]


class Allowlist:
    """Args: images: names an operator allows: `name` (that is, `name:latest`), `name:tag`,
    or `name:*` for every tag of `name`."""

    def __init__(self, images: Iterable[str]) -> None:
        images = list(images)
        self._any_tag = {i[:-2] for i in images if i.endswith(":*")}
        self._allowed = {normalized(i) for i in images if not i.endswith(":*")}
        self._shown = ", ".join(sorted(images))

    def check(self, image: object) -> str:
        """Returns `image` if allowed.

        Raises:
            ImageNotAllowed: it is not a string, or not on the list.
        """
        if not isinstance(image, str) or not image:
            raise ImageNotAllowed("image", "must be a non-empty string")
        allowed = normalized(image) in self._allowed or repository(image) in self._any_tag
        if not allowed:
            raise ImageNotAllowed("image", f"must be one of the allowed images: {self._shown}")
        return image
