"""Git, the door to a track's source: a commit resolved and its tree read out as a tar, with
bounds. Only app/images/builds.py asks, on a builder worker."""

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.errors import BuildFailed

GIT_SECONDS = 300  # a clone of the track's repository, at most
SHA_LENGTH = 40


@dataclass(frozen=True)
class Snapshot:
    """A commit of a repository: its full sha and its tree as a tar."""

    sha: str
    tree: bytes


def snapshot(source: str, reference: str, cap_bytes: int) -> Snapshot:
    """The commit `reference` (a branch, a tag or a sha) names in the repository at `source`
    (a local path or a URL git can fetch), and its tree.

    Raises:
        BuildFailed: the repository cannot be read, names no such commit, or its tree is over
            `cap_bytes`; the message says which.
    """
    if reference.startswith("-"):
        raise BuildFailed(f"git_reference {reference!r} may not start with '-'")
    with tempfile.TemporaryDirectory(prefix="greenbar-build-") as bare:
        _git("clone", ["clone", "--bare", "--quiet", "--", source, bare], GIT_SECONDS)
        try:
            named = f"{reference}^{{commit}}"
            found = _git("rev-parse", ["-C", bare, "rev-parse", "--verify", "--quiet", named])
        except BuildFailed:
            found = b""
        sha = found.decode().strip()
        if len(sha) != SHA_LENGTH:
            raise BuildFailed(f"{source} has no commit named {reference!r}")
        tarball = Path(bare) / "greenbar-tree.tar"
        _git("archive", ["-C", bare, "archive", "--format=tar", "-o", str(tarball), sha])
        size = tarball.stat().st_size
        if size > cap_bytes:
            raise BuildFailed(f"the source tree is {size} bytes, over its cap of {cap_bytes}")
        tree = tarball.read_bytes()
    return Snapshot(sha, tree)


def _git(what: str, args: list[str], seconds: float = 60) -> bytes:
    """git's stdout (small: a sha, or nothing); any other exit, or a git past `seconds`, is a
    failure that says what git said."""
    environment = {"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    try:
        done = subprocess.run(
            ["git", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=environment,
            timeout=seconds,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BuildFailed(f"git {what} failed: {error}") from error
    if done.returncode != 0:
        told = done.stderr.decode("utf-8", "replace").strip()[-500:]
        raise BuildFailed(f"git {what} failed ({done.returncode}): {told}")
    return done.stdout
