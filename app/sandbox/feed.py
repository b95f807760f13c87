"""What goes IN to a run's container: the request the supervisor reads on its stdin.

The magic line `GBRUN01`, then frames TYPE (1 byte), LENGTH (4 bytes, big-endian), PAYLOAD:
`L` the limits as `key=value` lines (`binary=1`: report binary files the run changed or
created too), `V` the run's own `CYBER_DOJO_*` variables as
`NAME=value` lines, `I` the run's standard input (only when it has one: else it reads
/dev/null), `A` a test case (its limit, arguments and stdin), `H` a helper file for the
run's HOME, `D` a name to delete, `F` a file (name length, name, mode, content: its raw
bytes, a base64 file's decoded), `E` the end.
`supervisor/supervisor.h` is the other side.
"""

import re
import struct
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from app.sandbox.cases import Case
from app.sandbox.files import STDIN_MAX_BYTES, Content, encoded, file_bytes

MAGIC = b"GBRUN01\n"
# cyber-dojo's mode for the learner's files: cyber-dojo.sh is run through the shell, and a
# script that wants another executable says `chmod +x` itself.
FILE_MODE = 0o644
# The supervisor sets only names of this shape, from one frame of at most this many bytes.
VARIABLE_NAME = re.compile(r"CYBER_DOJO_[A-Z0-9_]+")
VARIABLES_MAX_BYTES = 4096
HOME_FILE_MODE = 0o644
HOME_FILE_MAX_BYTES = 65536  # a whole H frame, as the supervisor bounds it


@dataclass(frozen=True)
class Limits:
    """What bounds one run inside its container.

    Args:
        max_seconds: wall-clock limit of cyber-dojo.sh.
        out_cap: bytes kept of stdout, of stderr and of each reported file (one more than
            the output limit, so a cut is seen).
        created_max: how many created files are reported, the first by name.
        kept_max: how many names of files a kata volume keeps are listed (0: not a kata).
        nproc: the most processes the run's uid may have (0: no such limit).
        binary: report binary files (a NUL in their first 8000 bytes) the run changed or
            created too, not only text ones.
    """

    max_seconds: int
    out_cap: int
    created_max: int
    kept_max: int = 0
    nproc: int = 0
    binary: bool = False

    def encoded(self) -> bytes:
        fields = {
            "max_ms": self.max_seconds * 1000,
            "out_cap": self.out_cap,
            "created_max": self.created_max,
            "kept_max": self.kept_max,
            "nproc": self.nproc,
        }
        if self.binary:  # only when asked: the supervisor reports text files only by default
            fields["binary"] = 1
        return "".join(f"{key}={value}\n" for key, value in fields.items()).encode()


def _frame(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload


def _file(name: str, content: Content, kind: bytes = b"F", mode: int = FILE_MODE) -> bytes:
    raw = name.encode()
    return _frame(
        kind, struct.pack(">H", len(raw)) + raw + struct.pack(">I", mode) + file_bytes(content)
    )


def _home_file(name: str, content: str) -> bytes:
    frame = _file(name, content, b"H", HOME_FILE_MODE)
    if len(frame) - 5 > HOME_FILE_MAX_BYTES:
        raise ValueError(f"home file {name} is over {HOME_FILE_MAX_BYTES} bytes")
    return frame


def _variables(variables: Mapping[str, str]) -> bytes:
    for name, value in variables.items():
        if not VARIABLE_NAME.fullmatch(name) or "\n" in value or "\0" in value:
            raise ValueError(f"{name}={value!r} cannot be a run's variable")
    payload = "".join(f"{name}={value}\n" for name, value in variables.items()).encode()
    if len(payload) > VARIABLES_MAX_BYTES:
        raise ValueError(f"a run's variables take {len(payload)} bytes, over {VARIABLES_MAX_BYTES}")
    return payload


def _stdin(stdin: str) -> bytes:
    raw = encoded(stdin)
    if len(raw) > STDIN_MAX_BYTES:
        raise ValueError(f"stdin takes {len(raw)} bytes, over {STDIN_MAX_BYTES}")
    return _frame(b"I", raw)


def _case(case: Case) -> bytes:
    """MAX_MS(4) FLAGS(1) ARGC(2), each argument LENGTH(2) BYTES, then stdin (FLAGS bit 0)."""
    max_ms = max(round(case.max_seconds * 1000), 1) if case.max_seconds is not None else 0
    has_stdin = case.stdin is not None
    parts = [struct.pack(">IBH", max_ms, int(has_stdin), len(case.args))]
    for arg in case.args:
        raw = encoded(arg)
        parts.append(struct.pack(">H", len(raw)) + raw)
    parts.append(encoded(case.stdin or ""))
    return _frame(b"A", b"".join(parts))


def request(
    limits: Limits,
    files: Mapping[str, Content],
    deleted: Collection[str] = (),
    variables: Mapping[str, str] | None = None,
    home: Mapping[str, str] | None = None,
    stdin: str | None = None,
    cases: Sequence[Case] = (),
) -> bytes:
    """The bytes a run's container reads: limits, variables, stdin, cases, home files,
    names to delete, files, end.

    Args:
        limits: the run's bounds.
        files: validated relative names to text or base64 (see `app.sandbox.files.validate`).
        deleted: names to remove from a kata volume first (no longer sent by the client).
        variables: the run's own `CYBER_DOJO_*` environment variables.
        home: helper files for the run's HOME by relative name (see app/sandbox/home/).
        stdin: what cyber-dojo.sh reads on its standard input (None: /dev/null); validated
            by `app.sandbox.files.validate_stdin`.
        cases: test cases, each one run of cyber-dojo.sh after build.sh (validated by
            `app.sandbox.cases.validated`).

    Raises:
        ValueError: a variable's name is not `CYBER_DOJO_*`, a value holds a newline or NUL,
            or they take more than `VARIABLES_MAX_BYTES`; a home file is over
            `HOME_FILE_MAX_BYTES`; stdin is over `STDIN_MAX_BYTES` (bugs: names, values
            and sizes are validated long before).
    """
    parts = [MAGIC, _frame(b"L", limits.encoded())]
    if variables:
        parts.append(_frame(b"V", _variables(variables)))
    if stdin is not None:
        parts.append(_stdin(stdin))
    parts += [_case(case) for case in cases]
    parts += [_home_file(name, content) for name, content in (home or {}).items()]
    parts += [_frame(b"D", name.encode()) for name in deleted]
    parts += [_file(name, content) for name, content in files.items()]
    parts.append(_frame(b"E", b""))
    return b"".join(parts)
