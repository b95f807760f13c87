"""Reading a folder into a run's `files` (its regular files by relative name: UTF-8 text as
text, any other bytes in base64), a run's `stdin` from a file, its test cases from a JSON
file, and saving the files a run changed or created."""

import base64
import json
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from cli.errors import CliError

ENTRY = "cyber-dojo.sh"
PARTIAL = ".greenbar-partial"  # a file being saved, before it takes its name


class Folder(NamedTuple):
    """A folder as a run sends it.

    Attributes:
        files: relative names (with `/`) to text, or to `{"content": BASE64, "encoding":
            "base64"}` for a file that is not UTF-8 text; sorted by name.
    """

    files: dict[str, Any]


def read_folder(root: Path) -> Folder:
    """Reads every regular file under `root`, skipping hidden folders (`.git`, ...) and
    symbolic links; a file that is not UTF-8 text (undecodable, or holding a NUL byte) is
    sent in base64, exactly.

    Raises:
        CliError: `root` is not a folder, a file cannot be read, or there is no
            `cyber-dojo.sh` at the top of it.
    """
    if not root.is_dir():
        raise CliError(f"{root} is not a folder")
    files: dict[str, Any] = {}
    for path in regular_files(root):
        name = path.relative_to(root).as_posix()
        data = bytes_of(path, name)
        text = text_in(data)
        files[name] = text if text is not None else _encoded(data)
    if ENTRY not in files:
        raise CliError(f"{root} has no {ENTRY}: greenbar runs a folder's {ENTRY}")
    return Folder(files)


def regular_files(root: Path) -> Iterator[Path]:
    """The regular files under `root`, by name, outside hidden folders; links not followed."""
    for folder, folders, names in os.walk(root):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(names):
            path = Path(folder, name)
            if stat.S_ISREG(path.lstat().st_mode):
                yield path


def bytes_of(path: Path, name: str) -> bytes:
    """The file's bytes.

    Raises:
        CliError: the file cannot be read.
    """
    try:
        return path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {name}: {error.strerror or error}") from error


def text_in(data: bytes) -> str | None:
    """`data` as text, or None when it is not UTF-8 text (undecodable, or holding a NUL)."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _encoded(data: bytes) -> dict[str, str]:
    return {"content": base64.b64encode(data).decode("ascii"), "encoding": "base64"}


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
    text = text_in(bytes_of(Path(name), name))
    if text is None:
        raise CliError(f"--stdin {name} is not UTF-8 text")
    return text


def read_cases(name: str) -> list[Any]:
    """A run's test cases: the JSON array in the file `name` (each case an object with any of
    stdin, args, expected_stdout, max_seconds; greenbar checks them).

    Raises:
        CliError: the file cannot be read, is not UTF-8 JSON, or holds no array.
    """
    text = text_in(bytes_of(Path(name), name))
    if text is None:
        raise CliError(f"--cases {name} is not UTF-8 text")
    try:
        cases = json.loads(text)
    except ValueError as error:
        raise CliError(f"--cases {name} is not JSON: {error}") from None
    if not isinstance(cases, list):
        raise CliError(f"--cases {name} must hold a JSON array of cases")
    return cases


def save_files(files: Mapping[str, Mapping[str, Any]], root: Path, exact: bool) -> dict[str, str]:
    """Writes a result's files (`{"content", "truncated"}`, or base64 with `"encoding":
    "base64"`) under `root` by their relative names, each replacing what is there (a symbolic
    link itself, never what it points to). A file that came back cut is not written, nor,
    unless the run returned binary files (`exact`), a text whose U+FFFD may stand for bytes
    that were not UTF-8: either would overwrite a file with less than the run left.

    Returns:
        the files not written, by name, each with why.

    Raises:
        CliError: a name would leave `root` or pass through a symbolic link, a base64
            content is invalid, or a file cannot be written.
    """
    skipped = {}
    for name, file in sorted(files.items()):
        target = _inside(root, name)
        if file.get("truncated"):
            skipped[name] = "cut at the output limit"
            continue
        if not exact and "encoding" not in file and "\ufffd" in str(file.get("content", "")):
            skipped[name] = "may not be UTF-8 (ask for its bytes with --return-binary)"
            continue
        try:
            data = _content(file)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + PARTIAL)
            partial.write_bytes(data)
            os.replace(partial, target)
        except (OSError, ValueError) as error:
            raise CliError(f"cannot save {name}: {error}") from error
    return skipped


def _content(file: Mapping[str, Any]) -> bytes:
    content = str(file.get("content", ""))
    if file.get("encoding") == "base64":
        return base64.b64decode(content, validate=True)
    return content.encode("utf-8", "replace")


def _inside(root: Path, name: str) -> Path:
    """`root / name`, refused when `name` is not a plain relative name or one of its folders
    under `root` is a symbolic link (a file saved there would land elsewhere)."""
    parts = name.split("/")
    if name.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise CliError(f"not saved: {name!r} is not a relative name inside {root}")
    for depth in range(1, len(parts)):
        if root.joinpath(*parts[:depth]).is_symlink():
            raise CliError(f"not saved: {name} would pass through a symbolic link")
    return root.joinpath(*parts)
