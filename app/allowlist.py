"""The operator's image allowlist: only these images may run."""

from collections.abc import Iterable

from app.errors import ImageNotAllowed


def normalized(image: str) -> str:
    """`name` and `name:latest` are one image; a digest reference stays as it is."""
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in last else f"{image}:latest"


class Allowlist:
    """Args: images: names (with or without tag) an operator allows."""

    def __init__(self, images: Iterable[str]) -> None:
        self._allowed = {normalized(i) for i in images}
        self._shown = ", ".join(sorted(images))

    def check(self, image: object) -> str:
        """Returns `image` if allowed.

        Raises:
            ImageNotAllowed: it is not a string, or not on the list.
        """
        if not isinstance(image, str) or not image:
            raise ImageNotAllowed("image", "must be a non-empty string")
        if normalized(image) not in self._allowed:
            raise ImageNotAllowed("image", f"must be one of the allowed images: {self._shown}")
        return image
