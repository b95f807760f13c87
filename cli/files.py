"""Reading a folder into a run's `files` (its regular UTF-8 text files by relative name), a
run's `stdin` from a file, and its test cases from a JSON file."""

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from cli.errors import CliError

ENTRY = "cyber-dojo.sh"


class Folder(NamedTuple):
    """A folder as a run sends it.

    Attributes:
        files: relative names (with `/`) to text, sorted by name.
        skipped: names of the files left out because they are not UTF-8 text.
    """

    files: dict[str, str]
    skipped: list[str]


def read_folder(root: Path) -> Folder:
    """Reads every regular file under `root`, skipping hidden folders (`.git`, ...), symbolic
    links, and files that are not UTF-8 text (undecodable, or holding a NUL byte).

    Raises:
        CliError: `root` is not a folder, a file cannot be read, or there is no
            `cyber-dojo.sh` at the top of it.
    """
    if not root.is_dir():
        raise CliError(f"{root} is not a folder")
    files: dict[str, str] = {}
    skipped: list[str] = []
    for path in regular_files(root):
        name = path.relative_to(root).as_posix()
        text = text_of(path, name)
        if text is None:
            skipped.append(name)
        else:
            files[name] = text
    if ENTRY not in files:
        raise CliError(f"{root} has no {ENTRY} (as UTF-8 text): greenbar runs a folder's {ENTRY}")
    return Folder(files, skipped)


def regular_files(root: Path) -> Iterator[Path]:
    """The regular files under `root`, by name, outside hidden folders; links not followed."""
    for folder, folders, names in os.walk(root):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(names):
            path = Path(folder, name)
            if stat.S_ISREG(path.lstat().st_mode):
                yield path


def text_of(path: Path, name: str) -> str | None:
    """The file's text, or None when it is not UTF-8 text.

    Raises:
        CliError: the file cannot be read.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {name}: {error.strerror or error}") from error
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_input(name: str, own: TextIO) -> str:
    """A run's stdin: the text of the file `name`, or all of `own` (the CLI's own standard
    input) when `name` is `-`.

    Raises:
        CliError: the file cannot be read or is not UTF-8 text.
    """
    if name == "-":
        try:
            return own.read()
        except UnicodeDecodeError:
            raise CliError("stdin: the CLI's own standard input is not UTF-8 text") from None
    text = text_of(Path(name), name)
    if text is None:
        raise CliError(f"--stdin {name} is not UTF-8 text")
    return text


def read_cases(name: str) -> list[Any]:
    """A run's test cases: the JSON array in the file `name` (each case an object with any of
    stdin, args, expected_stdout, max_seconds; greenbar checks them).

    Raises:
        CliError: the file cannot be read, is not UTF-8 JSON, or holds no array.
    """
    text = text_of(Path(name), name)
    if text is None:
        raise CliError(f"--cases {name} is not UTF-8 text")
    try:
        cases = json.loads(text)
    except ValueError as error:
        raise CliError(f"--cases {name} is not JSON: {error}") from None
    if not isinstance(cases, list):
        raise CliError(f"--cases {name} must hold a JSON array of cases")
    return cases
