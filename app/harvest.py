"""What comes OUT of a run: the tar the entry script writes, parsed in memory as it streams.

Only the first `limit + 1` bytes of any member are kept (enough to know it was cut); the rest
is hashed and dropped, so memory stays bounded whatever the sandbox holds.
"""

import hashlib
import tarfile
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

OUT_PREFIX = "greenbar/out/"
SANDBOX_PREFIX = "sandbox/"
BINARY_SNIFF_BYTES = 8000  # as git does: a NUL in the first 8000 bytes means binary
READ_CHUNK = 65536
BEFORE_LIST_MAX_BYTES = 1024 * 1024


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class SandboxFile:
    """A regular file found in /sandbox after the run."""

    head: bytes  # at most limit + 1 bytes
    digest: bytes  # sha256 of the whole content

    @property
    def is_text(self) -> bool:
        return b"\0" not in self.head[:BINARY_SNIFF_BYTES]


@dataclass
class Harvest:
    """The parsed OUT tar."""

    out: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, SandboxFile] = field(default_factory=dict)  # those sent in
    created: dict[str, SandboxFile] = field(default_factory=dict)  # the first others by name
    before: set[str] = field(default_factory=set)  # files a kata volume held before the run
    sandbox_bytes: int = 0  # the size of every regular file in /sandbox after the run
    complete: bool = False


def _safe(relative: str) -> bool:
    """A name that stays inside the sandbox: relative, no empty, '.' or '..' component. Only
    a forged archive could hold another; it is dropped rather than passed to a client."""
    parts = relative.split("/")
    return (
        bool(relative)
        and not relative.startswith("/")
        and "" not in parts
        and not ({".", ".."} & set(parts))
    )


class Harvester:
    """Reads OUT tars for runs that sent the same files.

    Args:
        limit: bytes kept per member beyond which content counts as truncated.
        sent: the names of the files sent in; each is kept, since each could have changed.
        created_max: how many files not sent are kept, the first by name.
    """

    def __init__(self, limit: int, sent: Collection[str], created_max: int) -> None:
        self._limit = limit
        self._sent = sent
        self._created_max = created_max

    def harvest(self, stream: Readable) -> Harvest:
        """Reads the OUT tar from `stream`.

        Returns:
            The outputs and files; `complete` is False when the tar ended early or was
            malformed.

        Raises:
            Whatever `stream.read` raises (deadline, cap).
        """
        result = Harvest()
        try:
            # Names that are not UTF-8 get U+FFFD: a lone surrogate would break strict JSON.
            with tarfile.open(fileobj=stream, mode="r|", errors="replace") as tar:  # type: ignore[call-overload]
                for member in tar:
                    if member.isreg():
                        self._take(tar, member, result)
                    elif member.islnk():
                        self._take_link(member, result)
        except tarfile.TarError:
            return result
        result.complete = "status" in result.out
        return result

    def _take(self, tar: tarfile.TarFile, member: tarfile.TarInfo, result: Harvest) -> None:
        name = member.name
        if name == OUT_PREFIX + "before":
            listed = self._read(tar, member, BEFORE_LIST_MAX_BYTES).head.split(b"\0")
            result.before = {n.decode("utf-8", "replace")[2:] for n in listed}  # drop "./"
            return
        if name.startswith(OUT_PREFIX):
            result.out[name[len(OUT_PREFIX) :]] = self._read(tar, member).head
            return
        if not name.startswith(SANDBOX_PREFIX) or not _safe(name[len(SANDBOX_PREFIX) :]):
            return
        result.sandbox_bytes += member.size
        self._place(name[len(SANDBOX_PREFIX) :], self._read(tar, member), result)

    def _take_link(self, member: tarfile.TarInfo, result: Harvest) -> None:
        """A second name of a file already read: tar stores a hard-linked file once."""
        target = member.linkname.removeprefix(SANDBOX_PREFIX)
        found = result.files.get(target) or result.created.get(target)
        relative = member.name.removeprefix(SANDBOX_PREFIX)
        if found is not None and member.name.startswith(SANDBOX_PREFIX) and _safe(relative):
            self._place(relative, found, result)

    def _place(self, relative: str, found: SandboxFile, result: Harvest) -> None:
        if relative in self._sent:
            result.files[relative] = found
        elif found.is_text and relative not in result.before:
            result.created[relative] = found
            if len(result.created) > self._created_max:
                del result.created[max(result.created)]

    def _read(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int | None = None
    ) -> SandboxFile:
        limit = self._limit if limit is None else limit
        source = tar.extractfile(member)
        assert source is not None  # regular members always have content
        head = bytearray()
        digest = hashlib.sha256()
        while chunk := source.read(READ_CHUNK):
            digest.update(chunk)
            if len(head) <= limit:
                head += chunk[: limit + 1 - len(head)]
        return SandboxFile(bytes(head), digest.digest())
