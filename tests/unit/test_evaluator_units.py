"""The host's side of rag lambdas as pure logic, no services: the bounded reading of one file
from the engine's archive endpoint, the evaluator's wire form, and its channels: the attach
socket's and the unix socket's."""

import base64
import io
import json
import os
import socket
import struct
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.colour.evaluator.channel import Broken, Channel
from app.colour.evaluator.socket_channel import SOCKET_NAME, SocketChannel, connected
from app.colour.evaluator.wire import Call, Reply
from app.colour.rag_lambda import Verdict
from app.externals.archive import (
    BLOCK,
    PAX_MAX_BYTES,
    PathStat,
    Unreadable,
    member,
    refusal,
    size_text,
)
from app.externals.clock import Clock
from app.outcomes import Outcome, Output

PATH = "/usr/local/bin/red_amber_green.py"
CAP = 64 * 1024
GIB = 1 << 30

# app.externals.archive: the stat header.


def _stat_header(size: int, mode: int, link: str = "") -> str:
    body = {"name": "x", "size": size, "mode": mode, "mtime": "", "linkTarget": link}
    return base64.b64encode(json.dumps(body).encode()).decode()


@pytest.mark.parametrize(
    ("size", "mode", "said"),
    [
        (4096, (1 << 31) | 0o755, f"{PATH} is a directory, not a file"),
        (0, (1 << 25) | 0o644, f"{PATH} is a named pipe, not a regular file"),
        (0, (1 << 24) | 0o644, f"{PATH} is a socket, not a regular file"),
        (GIB, 0o644, f"{PATH} is 1 GiB, over the 64 KiB it may be"),
        (CAP + 1, 0o644, f"{PATH} is 64 KiB, over the 64 KiB it may be"),
        (CAP, 0o644, ""),
        (0, 0o644, ""),
    ],
)
def test_a_path_is_refused_from_its_stat_alone_unless_it_is_a_small_regular_file(
    size: int, mode: int, said: str
) -> None:
    assert refusal(PathStat.decode(_stat_header(size, mode)), PATH, CAP) == said


def test_a_symbolic_link_says_where_it_leads() -> None:
    stat = PathStat.decode(_stat_header(9, (1 << 27) | 0o777, "/opt/rule.py"))
    assert (stat.is_link, stat.link_target) == (True, "/opt/rule.py")


@pytest.mark.parametrize(
    "header", ["", "not base64!", base64.b64encode(b"[1, 2]").decode(), "A" * 9000]
)
def test_a_missing_or_malformed_stat_header_is_unreadable(header: str) -> None:
    with pytest.raises(Unreadable):
        PathStat.decode(header)


@pytest.mark.parametrize(
    ("size", "text"),
    [(12, "12 bytes"), (65536, "64 KiB"), (70000, "68.36 KiB"), (GIB, "1 GiB"), (3 << 40, "3 TiB")],
)
def test_sizes_are_said_in_binary_units(size: int, text: str) -> None:
    assert size_text(size) == text


# app.externals.archive: the tar body.


def _tar(content: bytes, kind: bytes = tarfile.REGTYPE, pax: dict[str, str] | None = None) -> bytes:
    """A tar the way the engine sends one file (tarfile is fine on the tests' own bytes)."""
    buffer = io.BytesIO()
    fmt = tarfile.PAX_FORMAT if pax else tarfile.USTAR_FORMAT
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        info = tarfile.TarInfo("red_amber_green.py")
        info.type = kind
        info.size = len(content) if kind == tarfile.REGTYPE else 0
        info.pax_headers = pax or {}
        tar.addfile(info, io.BytesIO(content) if kind == tarfile.REGTYPE else None)
    return buffer.getvalue()


def _reader(data: bytes) -> tuple[Callable[[int], bytes], list[int]]:
    """A read(n) over `data`, and the running count of bytes it gave."""
    stream, given = io.BytesIO(data), [0]

    def read(size: int) -> bytes:
        chunk = stream.read(size)
        given[0] += len(chunk)
        return chunk

    return read, given


def test_the_one_regular_file_is_read() -> None:
    read, _ = _reader(_tar(b"def colour(o, e, s):\n    return 'red'\n"))
    assert member(read, CAP) == b"def colour(o, e, s):\n    return 'red'\n"


def test_a_pax_header_before_the_file_is_understood() -> None:
    read, _ = _reader(_tar(b"naive", pax={"path": "naïve/" * 30, "comment": "x" * 300}))
    assert member(read, CAP) == b"naive"


def test_a_pax_size_over_the_cap_is_refused_before_the_body_is_read() -> None:
    data = _tar(b"small", pax={"size": str(GIB)})
    read, given = _reader(data + b"\0" * 10000)
    with pytest.raises(Unreadable, match="1 GiB"):
        member(read, CAP)
    assert given[0] <= 3 * BLOCK


def _with_checksum(header: bytearray) -> bytes:
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def test_a_header_claiming_a_huge_file_costs_one_block() -> None:
    header = bytearray(_tar(b"")[:BLOCK])
    header[124:136] = b"%011o\0" % (4 * GIB)
    read, given = _reader(_with_checksum(header) + b"\0" * 100000)
    with pytest.raises(Unreadable, match="4 GiB"):
        member(read, CAP)
    assert given[0] == BLOCK


@pytest.mark.parametrize(
    ("kind", "said"),
    [(tarfile.DIRTYPE, "tar type b'5'"), (tarfile.SYMTYPE, "tar type b'2'")],
)
def test_an_entry_that_is_not_a_regular_file_is_refused(kind: bytes, said: str) -> None:
    read, _ = _reader(_tar(b"", kind))
    with pytest.raises(Unreadable, match=said):
        member(read, CAP)


def _corrupted(at: int, value: bytes, checksum: bool = True) -> bytes:
    data = bytearray(_tar(b"content"))
    data[at : at + len(value)] = value
    header = _with_checksum(data[:BLOCK]) if checksum else bytes(data[:BLOCK])
    return header + bytes(data[BLOCK:])


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"", "ended inside a header"),
        (_tar(b"content")[: BLOCK + 3], "ended before the file did"),
        (b"\0" * 1024, "not a ustar archive"),
        (_corrupted(0, b"X", checksum=False), "wrong checksum"),
        (_corrupted(257, b"gnutar"), "not a ustar archive"),
        (_corrupted(124, b"\x80"), "base-256"),
        (_corrupted(124, b"12345678"), "not octal"),
        (b"garbage" * 200, "not a ustar archive"),
    ],
    ids=["empty", "cut", "zeros", "checksum", "magic", "base-256", "octal", "garbage"],
)
def test_a_malformed_archive_is_unreadable_not_an_exception_of_another_kind(
    data: bytes, said: str
) -> None:
    read, _ = _reader(data)
    with pytest.raises(Unreadable, match=said):
        member(read, CAP)


def _pax_entry(records: bytes) -> bytes:
    """A pax header block with `records`, then a regular file, checksums right."""
    good = _tar(b"ok", pax={"comment": "c"})
    first = bytearray(good[:BLOCK])
    first[124:136] = b"%011o\0" % len(records)
    padded = records + b"\0" * (-len(records) % BLOCK)
    rest = good[BLOCK + BLOCK :]  # the file's header and body, after the old pax records
    return _with_checksum(first) + padded + rest


def test_an_extended_header_over_its_limit_is_refused_unparsed() -> None:
    read, given = _reader(_pax_entry(b"9 a=b\n" * 1000))
    with pytest.raises(Unreadable, match="extended header of 6000 bytes"):
        member(read, CAP)
    assert given[0] == BLOCK


@pytest.mark.parametrize(
    "records", [b"99 path=x\n", b"x path=y\n", b"3 a\n", b"12 path=x\n\n\n\n", b"9 size=z\n"]
)
def test_a_malformed_extended_header_is_refused(records: bytes) -> None:
    read, _ = _reader(_pax_entry(records))
    with pytest.raises(Unreadable, match="extended header"):
        member(read, CAP)


def test_the_largest_extended_header_allowed_is_parsed_in_linear_time() -> None:
    # CVE-2024-6232's shape: many records, each forcing tarfile's regex to backtrack.
    record = b"8 a=" + b"\n" * 4
    records = record * (PAX_MAX_BYTES // len(record))
    read, _ = _reader(_pax_entry(records))
    started = time.perf_counter()
    assert member(read, CAP) == b"ok"
    assert time.perf_counter() - started < 0.5


# app.colour.evaluator.wire


def test_a_call_without_its_source_sends_null() -> None:
    call = Call("sha256:1", "ruby", "lambda { :red }", Output("out", "err", 3), 1.5)
    sent = json.loads(call.encode(with_source=False))
    assert sent == {
        "key": "sha256:1",
        "language": "ruby",
        "source": None,
        "stdout": "out",
        "stderr": "err",
        "status": 3,
        "limit": 1.5,
    }
    assert json.loads(call.encode())["source"] == "lambda { :red }"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b'{"outcome": "red", "log": ""}', Reply(Verdict(Outcome.RED))),
        (b'{"outcome": "faulty", "log": "why"}', Reply(Verdict(Outcome.FAULTY, "why"))),
        (b'{"unknown": true}', Reply(None)),
        (b'{"outcome": "green", "log": "", "retire": true}', Reply(Verdict(Outcome.GREEN), True)),
    ],
)
def test_a_well_formed_reply_is_read(line: bytes, reply: Reply) -> None:
    assert Reply.decode(line) == reply


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"not json",
        b"[]",
        b'{"outcome": "blue", "log": ""}',
        b'{"outcome": "red"}',
        b'{"outcome": "red", "log": 7}',
        b'{"unknown": "yes"}',
    ],
)
def test_anything_else_is_garbled(line: bytes) -> None:
    with pytest.raises(Broken) as raised:
        Reply.decode(line)
    assert raised.value.kind == "garbled"


# app.colour.evaluator.channel


def _frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", kind, len(payload)) + payload


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    host, evaluator = socket.socketpair()
    yield host, evaluator
    host.close()
    evaluator.close()


def _answering(evaluator: socket.socket, *replies: bytes) -> threading.Thread:
    """Reads one request line per reply and sends each reply, as the evaluator would."""

    def serve() -> None:
        for reply in replies:
            request = b""
            while not request.endswith(b"\n"):
                request += evaluator.recv(65536)
            evaluator.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_a_reply_split_over_frames_with_stderr_between_is_one_line(pair) -> None:
    host, evaluator = pair
    reply = _frame(1, b'{"outcome": ') + _frame(2, b"a warning") + _frame(1, b'"red"}\n')
    _answering(evaluator, reply, _frame(1, b"second\n"))
    channel = Channel(host, 1 << 20, time.monotonic)
    assert channel.ask(b"{}\n", time.monotonic() + 5) == b'{"outcome": "red"}'
    assert channel.diagnostics == b"a warning"
    assert channel.ask(b"{}\n", time.monotonic() + 5) == b"second"


def test_an_evaluator_that_stays_silent_passes_the_deadline(pair) -> None:
    host, _ = pair
    with pytest.raises(Broken) as raised:
        Channel(host, 1 << 20, time.monotonic).ask(b"{}\n", time.monotonic() + 0.2)
    assert raised.value.kind == "deadline"


def test_an_evaluator_that_ends_is_broken(pair) -> None:
    host, evaluator = pair
    evaluator.close()
    with pytest.raises(Broken) as raised:
        Channel(host, 1 << 20, time.monotonic).ask(b"{}\n", time.monotonic() + 5)
    assert raised.value.kind == "ended"


def test_more_than_the_cap_without_a_newline_is_broken(pair) -> None:
    host, evaluator = pair
    _answering(evaluator, _frame(1, b"x" * 5000))
    with pytest.raises(Broken) as raised:
        Channel(host, 4096, time.monotonic).ask(b"{}\n", time.monotonic() + 5)
    assert raised.value.kind == "cap"


def test_more_after_the_reply_line_is_garbled(pair) -> None:
    host, evaluator = pair
    _answering(evaluator, _frame(1, b"not json\n{}\n"))
    with pytest.raises(Broken) as raised:
        Channel(host, 1 << 20, time.monotonic).ask(b"{}\n", time.monotonic() + 5)
    assert raised.value.kind == "garbled"


# app.colour.evaluator.socket_channel


@pytest.fixture
def lines() -> Iterator[tuple[SocketChannel, socket.socket, socket.socket]]:
    """A socket channel, the evaluator's end of its unix socket and of its attach."""
    host, evaluator = socket.socketpair()
    attach, printed = socket.socketpair()
    host.setblocking(False)
    channel = SocketChannel(host, Channel(attach, 1 << 20, time.monotonic), 4096, time.monotonic)
    yield channel, evaluator, printed
    channel.close()
    evaluator.close()
    printed.close()


def test_a_reply_comes_over_the_socket_and_printed_output_over_the_attach(lines) -> None:
    channel, evaluator, printed = lines
    printed.sendall(_frame(2, b"a warn"))
    _answering(evaluator, b'{"outcome": "red"}\n', b"second\n")
    assert channel.ask(b"{}\n", time.monotonic() + 5) == b'{"outcome": "red"}'
    printed.sendall(_frame(2, b"ing"))
    assert channel.ask(b"{}\n", time.monotonic() + 5) == b"second"
    assert channel.diagnostics == b"ing" and not channel.ended()


def test_a_flood_of_printed_output_is_over_the_cap(lines) -> None:
    channel, _, printed = lines
    printed.sendall(_frame(2, b"x" * 5000))
    with pytest.raises(Broken) as raised:
        channel.ask(b"{}\n", time.monotonic() + 5)
    assert raised.value.kind == "cap"


@pytest.mark.parametrize(
    ("reply", "kind"),
    [(b"", "deadline"), (b"x" * 5000, "cap"), (b"not json\n{}\n", "garbled")],
)
def test_a_socket_reply_that_is_not_one_line_in_time_is_broken(lines, reply, kind) -> None:
    channel, evaluator, _ = lines
    if reply:
        _answering(evaluator, reply)
    with pytest.raises(Broken) as raised:
        channel.ask(b"{}\n", time.monotonic() + 0.3)
    assert raised.value.kind == kind


def test_an_evaluator_whose_socket_or_attach_closes_has_ended(lines) -> None:
    channel, evaluator, _ = lines
    evaluator.close()
    assert channel.ended()
    with pytest.raises(Broken) as raised:
        channel.ask(b"{}\n", time.monotonic() + 5)
    assert raised.value.kind == "ended"


def _listening(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)
    return listener


def test_only_a_socket_of_the_evaluators_uid_in_a_real_directory_is_connected(
    tmp_path: Path,
) -> None:
    volume, elsewhere = tmp_path / "volume", tmp_path / "elsewhere"
    volume.mkdir()
    elsewhere.mkdir()
    with _listening(elsewhere / SOCKET_NAME):
        (volume / SOCKET_NAME).symlink_to(elsewhere / SOCKET_NAME)
        assert connected(str(volume), os.getuid(), 0.05) is None  # a link: never followed
        assert connected(str(tmp_path / "linked"), os.getuid(), 0.05) is None
        (tmp_path / "linked").symlink_to(elsewhere)
        assert connected(str(tmp_path / "linked"), os.getuid(), 0.05) is None
        os.chown(elsewhere / SOCKET_NAME, os.getuid() + 1, -1, follow_symlinks=False)
        assert connected(str(elsewhere), os.getuid(), 0.05) is None  # another uid's socket
        os.chown(elsewhere / SOCKET_NAME, os.getuid(), -1, follow_symlinks=False)
        # Another uid's directory: no socket can come, so it does not even start to wait.
        never = lambda: pytest.fail("it waited")  # noqa: E731
        assert connected(str(elsewhere), os.getuid() + 1, 5, times=Clock(monotonic=never)) is None
        found = connected(str(elsewhere), os.getuid(), 0.05)
        assert found is not None
        found.close()


def test_a_socket_that_appears_within_the_wait_is_connected(tmp_path: Path) -> None:
    held: list[socket.socket] = []
    appears = threading.Timer(0.05, lambda: held.append(_listening(tmp_path / SOCKET_NAME)))
    appears.start()
    found = connected(str(tmp_path), os.getuid(), 2.0)
    assert found is not None
    found.close()
    held[0].close()
