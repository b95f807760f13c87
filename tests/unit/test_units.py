"""Pure logic, no services: validation, the request to the supervisor, text cleaning, its
result, the framed stream, configuration and the allowlist."""

import dataclasses
import io
import json
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.errors import ConfigError, ImageNotAllowed, InvalidRequest
from app.images.allowlist import Allowlist
from app.jobs.requests import RunRequest
from app.outcomes import Outcome
from app.sandbox.feed import Limits, request
from app.sandbox.files import validate
from app.sandbox.harvest import Harvester
from app.sandbox.home import home_files
from app.sandbox.result import RunResult
from app.sandbox.spec import container_name, run_labels, spec
from app.sandbox.stream import DIAGNOSTICS_MAX_BYTES, CapExceeded, DeadlinePassed, OutputStream
from app.sandbox.text import cleaned
from tests.helpers import a_result
from web.schemas import run_request

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings()


# app.sandbox.files.validate


def test_valid_files_are_returned_as_a_plain_dict():
    files = {"cyber-dojo.sh": "pytest", "src/hiker.py": "x = 1\n", "naïve 日本.txt": ""}
    assert validate(files, SETTINGS) == files


@pytest.mark.parametrize("files", [None, [], "cyber-dojo.sh", 42])
def test_files_that_are_not_an_object_are_refused(files):
    with pytest.raises(InvalidRequest) as refused:
        validate(files, SETTINGS)
    assert refused.value.field == "files"


def test_files_without_cyber_dojo_sh_are_refused():
    with pytest.raises(InvalidRequest) as refused:
        validate({"hiker.py": ""}, SETTINGS)
    assert refused.value.field == "files"
    assert "cyber-dojo.sh" in refused.value.rule


def test_at_most_256_files_are_accepted():
    files = {"cyber-dojo.sh": "", **{f"f{i:03}": "" for i in range(255)}}
    assert len(validate(files, SETTINGS)) == 256
    files["one-too-many"] = ""
    with pytest.raises(InvalidRequest) as refused:
        validate(files, SETTINGS)
    assert refused.value.field == "files"


def test_at_most_4096_kib_of_content_in_utf8_bytes_are_accepted():
    two_byte_chars = "é" * (4096 * 1024 // 2)
    assert validate({"cyber-dojo.sh": two_byte_chars}, SETTINGS)
    with pytest.raises(InvalidRequest) as refused:
        validate({"cyber-dojo.sh": two_byte_chars, "a": "x"}, SETTINGS)
    assert refused.value.field == "files"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "/etc/passwd",
        "../escape",
        "a/../../escape",
        "./a",
        "a/./b",
        "a//b",
        "a/",
        "a\x00b",
        "a\nb",
        "tab\there",
        "del\x7f",
        "x" * 256,
        "日" * 86,  # 258 bytes in one component
        "/".join(["d"] * 17),
        "lone\udc80surrogate",
    ],
)
def test_a_bad_file_name_is_refused_naming_it(name):
    with pytest.raises(InvalidRequest) as refused:
        validate({"cyber-dojo.sh": "", name: ""}, SETTINGS)
    assert refused.value.field == f"files[{name}]"


@pytest.mark.parametrize(
    "name", ["x" * 255, "日" * 85, "/".join(["d"] * 16), "-n", "it's a file.txt"]
)
def test_names_at_the_limits_are_accepted(name):
    assert name in validate({"cyber-dojo.sh": "", name: ""}, SETTINGS)


@pytest.mark.parametrize("content", [None, 1, ["a"], {"a": "b"}, b"bytes"])
def test_content_that_is_not_a_string_is_refused_naming_the_file(content):
    with pytest.raises(InvalidRequest) as refused:
        validate({"cyber-dojo.sh": "", "hiker.py": content}, SETTINGS)
    assert refused.value.field == "files[hiker.py]"


# app.sandbox.feed.request


def _frames(data: bytes, magic: bytes) -> list[tuple[str, bytes]]:
    """The frames of a stream in greenbar's framing (a test's own reader)."""
    assert data.startswith(magic)
    found, at = [], len(magic)
    while at < len(data):
        kind, length = chr(data[at]), struct.unpack(">I", data[at + 1 : at + 5])[0]
        found.append((kind, data[at + 5 : at + 5 + length]))
        at += 5 + length
    return found


def _file(payload: bytes) -> tuple[str, int, bytes]:
    length = struct.unpack(">H", payload[:2])[0]
    name, rest = payload[2 : 2 + length].decode(), payload[2 + length :]
    return name, struct.unpack(">I", rest[:4])[0], rest[4:]


def test_the_request_holds_the_limits_then_the_deletes_then_each_file_then_its_end():
    files = {"cyber-dojo.sh": "echo hi\n", "src/deep/hiker.py": "π = 3.14\n", "a b/-n": ""}
    sent = request(Limits(7, 51201, 16, 1024), files, deleted=["old.txt"])
    frames = _frames(sent, b"GBRUN01\n")
    assert [kind for kind, _ in frames] == ["L", "D", "F", "F", "F", "E"]
    assert frames[0][1] == (b"max_ms=7000\nout_cap=51201\ncreated_max=16\nkept_max=1024\nnproc=0\n")
    assert frames[1][1] == b"old.txt"
    assert [_file(payload) for _, payload in frames[2:5]] == [
        (name, 0o644, content.encode()) for name, content in files.items()
    ]
    assert frames[5][1] == b""


def test_a_lone_surrogate_in_content_reaches_the_sandbox_as_a_replacement_character():
    sent = request(Limits(1, 10, 1), {"cyber-dojo.sh": "", "lone.txt": "a\udc80b"})
    assert _file(_frames(sent, b"GBRUN01\n")[2][1])[2] == "a\ufffdb".encode()


def test_the_runs_variables_come_after_the_limits_as_name_value_lines():
    variables = {"CYBER_DOJO_ID": "kata-1", "CYBER_DOJO_IMAGE_NAME": "greenbar/busybox-sh"}
    sent = request(Limits(1, 10, 1), {"cyber-dojo.sh": ""}, ["old"], variables)
    frames = _frames(sent, b"GBRUN01\n")
    assert [kind for kind, _ in frames] == ["L", "V", "D", "F", "E"]
    assert frames[1][1] == b"CYBER_DOJO_ID=kata-1\nCYBER_DOJO_IMAGE_NAME=greenbar/busybox-sh\n"


def test_a_request_without_variables_has_no_variables_frame():
    frames = _frames(request(Limits(1, 10, 1), {"cyber-dojo.sh": ""}), b"GBRUN01\n")
    assert [kind for kind, _ in frames] == ["L", "F", "E"]


@pytest.mark.parametrize(
    "variables",
    [
        {"PATH": "/evil"},
        {"LD_PRELOAD": "/sandbox/x.so"},
        {"CYBER_DOJO_": "no name after the prefix"},
        {"cyber_dojo_id": "lower case"},
        {"CYBER_DOJO_ID": "two\nlines"},
        {"CYBER_DOJO_ID": "a\0b"},
        {"CYBER_DOJO_ID": "x" * 4096},
    ],
)
def test_variables_the_supervisor_would_refuse_are_refused_before_sending(variables):
    with pytest.raises(ValueError):
        request(Limits(1, 10, 1), {"cyber-dojo.sh": ""}, variables=variables)


def test_home_files_go_after_the_variables_as_0644_files_of_their_own_kind():
    home = {"cyber_dojo_fs_cleaners.sh": "cyber_dojo_delete_dirs() { :; }\n"}
    sent = request(Limits(1, 10, 1), {"cyber-dojo.sh": ""}, (), {"CYBER_DOJO_ID": "k"}, home)
    frames = _frames(sent, b"GBRUN01\n")
    assert [kind for kind, _ in frames] == ["L", "V", "H", "F", "E"]
    assert _file(frames[2][1]) == (
        "cyber_dojo_fs_cleaners.sh",
        0o644,
        b"cyber_dojo_delete_dirs() { :; }\n",
    )


def test_a_home_file_over_the_supervisors_bound_is_refused_before_sending():
    with pytest.raises(ValueError, match="65536"):
        request(Limits(1, 10, 1), {}, home={"big.sh": "x" * 65536})


def test_a_runs_stdin_is_one_frame_of_its_utf8_bytes_before_the_files():
    sent = request(Limits(1, 10, 1), {"cyber-dojo.sh": "cat"}, stdin="π\nlast")
    frames = _frames(sent, b"GBRUN01\n")
    assert [kind for kind, _ in frames] == ["L", "I", "F", "E"]
    assert frames[1][1] == "π\nlast".encode()


def test_an_empty_stdin_is_still_sent_and_no_stdin_sends_no_frame():
    with_empty = _frames(request(Limits(1, 10, 1), {"cyber-dojo.sh": ""}, stdin=""), b"GBRUN01\n")
    assert ("I", b"") in with_empty
    without = _frames(request(Limits(1, 10, 1), {"cyber-dojo.sh": ""}), b"GBRUN01\n")
    assert "I" not in [kind for kind, _ in without]


def _run_request(**body: Any) -> RunRequest:
    settings = Settings(files_max_kib=1)
    allowed = Allowlist(["greenbar/busybox-sh"])
    body = {"image": "greenbar/busybox-sh", "files": {"cyber-dojo.sh": "cat"}, **body}
    return run_request(body, settings, allowed, None)  # type: ignore[arg-type]


def test_stdin_of_up_to_files_max_kib_in_utf8_bytes_is_accepted_and_carried():
    assert _run_request(stdin="x" * 1024).stdin == "x" * 1024
    assert _run_request().stdin is None


@pytest.mark.parametrize("stdin", ["x" * 1025, "π" * 513])
def test_stdin_over_files_max_kib_is_refused_naming_stdin(stdin):
    with pytest.raises(InvalidRequest) as refused:
        _run_request(stdin=stdin)
    assert refused.value.field == "stdin"
    assert "at most 1 KiB" in str(refused.value)


def test_stdin_that_is_not_a_string_is_refused_naming_stdin():
    with pytest.raises(InvalidRequest) as refused:
        _run_request(stdin=["a"])
    assert refused.value.field == "stdin"


def test_greenbars_fs_cleaners_define_the_three_functions_cyber_dojo_start_points_call():
    cleaners = home_files()["cyber_dojo_fs_cleaners.sh"]
    for function in ("cyber_dojo_delete_dirs", "cyber_dojo_delete_files", "cyber_dojo_reset_dirs"):
        assert f"\n{function}() {{\n" in cleaners


# app.sandbox.text.cleaned


def test_text_under_the_limit_is_kept_whole():
    assert cleaned(b"hello", 5) == {"content": "hello", "truncated": False}


def test_text_over_the_limit_is_cut_at_the_limit_and_marked_truncated():
    assert cleaned(b"hello!", 5) == {"content": "hello", "truncated": True}


def test_a_multibyte_character_cut_by_the_limit_is_dropped():
    raw = "ab€".encode()  # € is three bytes
    assert cleaned(raw, 4) == {"content": "ab", "truncated": True}


def test_an_incomplete_character_at_the_true_end_is_replaced():
    assert cleaned(b"ab\xe2\x82", 10) == {"content": "ab\ufffd", "truncated": False}


def test_invalid_utf8_is_replaced_and_nul_bytes_are_kept():
    assert cleaned(b"a\x00b\xffc", 100) == {"content": "a\x00b\ufffdc", "truncated": False}


# app.sandbox.harvest.Harvester


def _out(*frames: tuple[str, bytes]) -> bytes:
    """A result stream: the magic line, then (type, payload) frames."""
    return b"GBOUT01\n" + b"".join(
        kind.encode() + struct.pack(">I", len(payload)) + payload for kind, payload in frames
    )


def _named(name: str, head: bytes) -> bytes:
    raw = name.encode()
    return struct.pack(">H", len(raw)) + raw + head


class _OnlyRead:
    """A stream that can only be read, like the container's socket; counts what was read."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.taken = 0

    def read(self, size: int = -1) -> bytes:
        got = self._data.read(size)
        self.taken += len(got)
        return got


def _harvest(data: bytes, sent=1, limit=101, created_max=16, kept_max=0):
    return Harvester(limit, sent, created_max, kept_max).harvest(_OnlyRead(data))


GENUINE = (
    ("S", b"1"),
    ("O", b"out"),
    ("R", b"err"),
    ("C", _named("cyber-dojo.sh", b"pytest")),
    ("N", _named("sub/new.txt", b"new")),
    ("X", b"gone.txt"),
    ("K", b"sub/new.txt"),
    ("M", b"oom_kills=0\nrun_ms=5\nsandbox_kib=8\ncreated_truncated=1\nkept_truncated=0\n"),
    ("U", b"cpu_ms=480\nmemory_peak_kib=102400\n"),
    ("E", b""),
)


def test_the_harvest_reads_status_outputs_files_names_and_metrics():
    harvest = _harvest(_out(*GENUINE), sent=2, kept_max=10)
    assert harvest.complete, harvest.problem
    assert (harvest.status, harvest.stdout, harvest.stderr) == (1, b"out", b"err")
    assert harvest.changed == {"cyber-dojo.sh": b"pytest"}
    assert harvest.created == {"sub/new.txt": b"new"}
    assert (harvest.deleted, harvest.kept) == (["gone.txt"], ["sub/new.txt"])
    assert harvest.metrics["created_truncated"] == 1
    assert harvest.metrics["sandbox_kib"] == 8
    assert harvest.usage == {"cpu_ms": 480, "memory_peak_kib": 102400}


def test_a_usage_frame_without_the_values_the_cgroup_did_not_tell_leaves_them_out():
    harvest = _harvest(_out(("S", b"0"), ("U", b"memory_peak_kib=7\n"), ("E", b"")))
    assert harvest.complete, harvest.problem
    assert harvest.usage == {"memory_peak_kib": 7}


def test_a_result_without_a_usage_frame_has_no_measures():
    harvest = _harvest(_out(("S", b"0"), ("E", b"")))
    assert harvest.complete and harvest.usage == {}


def test_a_usage_frame_longer_than_it_may_be_is_refused_before_its_payload_is_read():
    stream = _OnlyRead(_out(("S", b"0")) + b"U" + struct.pack(">I", 257) + b"cpu_ms=1\n" * 40)
    harvest = Harvester(101, 1, 16).harvest(stream)
    assert not harvest.complete
    assert "'U' frame of 257 bytes" in harvest.problem
    assert stream.taken == len(b"GBOUT01\n") + 5 + 1 + 5, "nothing of the payload was read"


@pytest.mark.parametrize("cut", range(0, len(_out(*GENUINE)), 7))
def test_a_result_cut_anywhere_is_incomplete_not_an_exception(cut):
    assert not _harvest(_out(*GENUINE)[:cut], sent=2, kept_max=10).complete


def test_a_result_that_ends_without_a_status_is_malformed():
    harvest = _harvest(_out(("O", b"out"), ("E", b"")))
    assert not harvest.complete
    assert "without an exit status" in harvest.problem


@pytest.mark.parametrize(
    "data",
    [
        b"this is not a result" * 100,
        b"greenbar-result 0123\n" + b"\0" * 1024,  # the old entry script's stream
        _out(("Q", b"")),  # an unknown frame
        _out(("S", b"zero")),  # a status that is not a number
        _out(("M", b"bogus=1\n")),  # an unknown metric
        _out(("S", b"0"), ("U", b"oom_kills=1\n"), ("E", b"")),  # a metric that is not a measure
        _out(("S", b"0"), ("U", b"cpu_ms=fast\n"), ("E", b"")),  # not a number
        _out(("S", b"0"), ("U", b"cpu_ms=-1\n"), ("E", b"")),  # negative
        _out(("S", b"0"), ("U", b"cpu_ms=1\ncpu_ms=2\n"), ("E", b"")),  # repeated
        _out(("S", b"0"), ("U", b""), ("U", b""), ("E", b"")),  # two usage frames
        _out(("C", b"\x00")),  # a file frame too short for its name
    ],
)
def test_bytes_that_break_the_protocol_are_an_incomplete_result_saying_so(data):
    harvest = _harvest(data)
    assert not harvest.complete
    assert harvest.problem.startswith("the sandbox's result is malformed")


def test_a_frame_longer_than_its_kind_may_be_is_refused_before_its_payload_is_read():
    stream = _OnlyRead(_out(("S", b"0")) + b"O" + struct.pack(">I", 2**32 - 1) + b"x" * 5000)
    harvest = Harvester(101, 1, 16).harvest(stream)
    assert not harvest.complete
    assert "'O' frame of 4294967295 bytes" in harvest.problem
    assert stream.taken == len(b"GBOUT01\n") + 5 + 1 + 5, "nothing of the payload was read"


@pytest.mark.parametrize(
    ("kind", "payload", "limits"),
    [
        ("N", _named("f", b"x"), {"created_max": 2}),
        ("C", _named("f", b"x"), {"sent": 2}),
        ("X", b"f", {"sent": 2}),
        ("K", b"f", {"kept_max": 2}),
    ],
)
def test_more_files_or_names_than_were_asked_for_are_refused(kind, payload, limits):
    harvest = _harvest(_out(("S", b"0"), *[(kind, payload)] * 3, ("E", b"")), **limits)
    assert not harvest.complete
    assert f"more than 2 {kind!r} frames" in harvest.problem


def test_names_that_would_leave_the_sandbox_are_dropped():
    escaping = ["../../etc/cron.d/x", "/etc/passwd", "a/../../b", "a//b", "./a"]
    frames = [("N", _named(name, b"forged")) for name in escaping] + [("K", b"../up")]
    harvest = _harvest(_out(("S", b"0"), *frames, ("E", b"")), kept_max=5)
    assert harvest.complete
    assert (harvest.created, harvest.kept) == ({}, [])


def test_a_name_that_is_not_utf8_comes_back_as_valid_unicode():
    raw = b"bad\xffname"
    named = struct.pack(">H", len(raw)) + raw
    harvest = _harvest(_out(("S", b"0"), ("N", named), ("E", b"")))
    assert list(harvest.created) == ["bad\ufffdname"]


def test_nothing_after_the_end_frame_is_read():
    stream = _OnlyRead(_out(("S", b"0"), ("E", b"")) + _out(("S", b"9"), ("E", b"")))
    harvest = Harvester(101, 1, 16).harvest(stream)
    assert (harvest.complete, harvest.status) == (True, 0)
    assert stream.taken == len(_out(("S", b"0"), ("E", b"")))


# app.sandbox.stream.OutputStream


def _frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", kind, len(payload)) + payload


@pytest.fixture
def pair():
    reader, writer = socket.socketpair()
    yield reader, writer
    reader.close()
    writer.close()


def test_stdout_frames_are_reassembled_and_stderr_frames_become_diagnostics(pair):
    reader, writer = pair
    writer.sendall(
        _frame(1, b"hello ") + _frame(2, b"warn:") + _frame(1, b"wor") + _frame(2, b"ing")
    )
    writer.sendall(_frame(1, b"ld"))
    writer.close()
    stream = OutputStream(reader, time.monotonic() + 10, 1 << 20, time.monotonic)
    assert stream.read() == b"hello world"
    assert stream.diagnostics == b"warn:ing"
    assert stream.ended


def test_small_reads_get_exact_sizes_across_frame_and_packet_boundaries(pair):
    reader, writer = pair
    data = _frame(1, b"abcdef") + _frame(2, b"E") + _frame(1, b"ghij")
    stream = OutputStream(reader, time.monotonic() + 10, 1 << 20, time.monotonic)

    def trickle() -> None:
        for i in range(len(data)):
            writer.sendall(data[i : i + 1])
        writer.close()

    feeder = threading.Thread(target=trickle)
    feeder.start()
    chunks = [stream.read(4), stream.read(4), stream.read(4)]
    feeder.join()
    assert chunks == [b"abcd", b"efgh", b"ij"]


def test_diagnostics_are_capped(pair):
    reader, writer = pair
    writer.sendall(_frame(2, b"e" * (DIAGNOSTICS_MAX_BYTES + 500)) + _frame(1, b"ok"))
    writer.close()
    stream = OutputStream(reader, time.monotonic() + 10, 1 << 20, time.monotonic)
    assert stream.read() == b"ok"
    assert len(stream.diagnostics) == DIAGNOSTICS_MAX_BYTES


def test_a_writer_that_goes_silent_makes_the_read_pass_its_deadline(pair):
    reader, writer = pair
    writer.sendall(_frame(1, b"partial"))
    stream = OutputStream(reader, time.monotonic() + 0.3, 1 << 20, time.monotonic)
    with pytest.raises(DeadlinePassed):
        stream.read()


def test_a_deadline_already_past_on_the_given_clock_stops_the_first_read(pair):
    reader, writer = pair
    writer.sendall(_frame(1, b"ready"))
    stream = OutputStream(reader, deadline=100.0, cap=1 << 20, clock=lambda: 101.0)
    with pytest.raises(DeadlinePassed):
        stream.read(1)


def test_more_than_the_cap_in_stdout_and_stderr_together_is_refused(pair):
    reader, writer = pair
    writer.sendall(_frame(2, b"e" * 60) + _frame(1, b"o" * 60))
    writer.close()
    stream = OutputStream(reader, time.monotonic() + 10, 100, time.monotonic)
    with pytest.raises(CapExceeded):
        stream.read()


def test_a_harvest_reads_a_result_through_the_framed_stream(pair):
    reader, writer = pair
    data = _out(("S", b"0"), ("O", b"framed"), ("N", _named("n.txt", b"n")), ("E", b""))
    framed = b"".join(_frame(1, data[i : i + 7]) + _frame(2, b"!") for i in range(0, len(data), 7))

    def send() -> None:
        writer.sendall(framed)
        writer.close()

    sender = threading.Thread(target=send)
    sender.start()
    stream = OutputStream(reader, time.monotonic() + 10, 1 << 20, time.monotonic)
    harvest = Harvester(100, 1, 16).harvest(stream)
    sender.join()
    assert harvest.complete
    assert harvest.stdout == b"framed"
    assert set(harvest.created) == {"n.txt"}


# app.config.Settings


def test_settings_convert_each_kind_of_variable():
    env = {
        "GREENBAR_PORT": "8000",
        "GREENBAR_CPUS": "1.5",
        "GREENBAR_INIT": "off",
        "GREENBAR_PRUNE_IMAGES": " YES ",
        "GREENBAR_IMAGES": "a/b, c/d:1 ,,",
        "GREENBAR_NODE": "node-7",
        "GREENBAR_UNKNOWN": "ignored",
    }
    settings = Settings.from_env(env)
    assert settings.port == 8000
    assert settings.cpus == 1.5
    assert settings.init is False
    assert settings.prune_images is True
    assert settings.images == ("a/b", "c/d:1")
    assert settings.node == "node-7"


def test_overrides_win_over_the_environment():
    settings = Settings.from_env({"GREENBAR_NODE": "from-env"}, node="override")
    assert settings.node == "override"


def test_defaults_apply_when_the_environment_is_empty():
    settings = Settings.from_env({})
    assert settings.max_seconds_default == 10
    assert settings.output_limit_kib == 50
    assert settings.longest_run_seconds == settings.max_seconds_limit + 30


@pytest.mark.parametrize(
    "name, raw",
    [
        ("GREENBAR_PORT", "eighty"),
        ("GREENBAR_PORT", "1.5"),
        ("GREENBAR_CPUS", "lots"),
        ("GREENBAR_READ_ONLY", "maybe"),
    ],
)
def test_a_variable_that_cannot_be_converted_is_a_config_error_naming_it(name, raw):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: raw})


@pytest.mark.parametrize(
    "env",
    [
        {"GREENBAR_MAX_SECONDS_DEFAULT": "21"},
        {"GREENBAR_MAX_SECONDS_DEFAULT": "0"},
        {"GREENBAR_REQUEST_MAX_KIB": "8191"},
        {"GREENBAR_REQUEST_MAX_KIB": "12287"},  # a largest file and a largest stdin must fit
    ],
)
def test_contradictory_settings_are_a_config_error(env):
    with pytest.raises(ConfigError):
        Settings.from_env(env)


@pytest.mark.parametrize("raw", ["", "/usr/bin/runsc", "runsc --platform=kvm", "-runsc", "r" * 65])
def test_a_runtime_that_is_not_a_simple_name_is_a_config_error_naming_it(raw):
    with pytest.raises(ConfigError, match="GREENBAR_RUNTIME"):
        Settings.from_env({"GREENBAR_RUNTIME": raw})


def test_a_runtime_name_the_engine_registers_is_accepted():
    settings = Settings.from_env({"GREENBAR_RUNTIME": "io.containerd.runc.v2"})
    assert settings.runtime == "io.containerd.runc.v2"


def test_every_setting_is_documented_in_the_readme():
    readme = ROOT / "README.md"
    assert readme.is_file(), "README.md is missing"
    text = readme.read_text()
    missing = [
        f"GREENBAR_{f.name.upper()}"
        for f in dataclasses.fields(Settings)
        if f"GREENBAR_{f.name.upper()}" not in text
    ]
    assert not missing, f"README.md does not document {missing}"


# app.images.allowlist.Allowlist


@pytest.mark.parametrize(
    "allowed, asked",
    [
        ("greenbar/busybox-sh", "greenbar/busybox-sh"),
        ("greenbar/busybox-sh", "greenbar/busybox-sh:latest"),
        ("greenbar/busybox-sh:latest", "greenbar/busybox-sh"),
        ("localhost:5000/kata", "localhost:5000/kata:latest"),
        ("kata@sha256:" + "a" * 64, "kata@sha256:" + "a" * 64),
    ],
)
def test_a_name_and_its_latest_tag_are_one_allowed_image(allowed, asked):
    assert Allowlist([allowed]).check(asked) == asked


@pytest.mark.parametrize(
    "asked",
    ["greenbar/busybox-sh:1.0", "greenbar/busybox", "busybox-sh", "localhost:5000/kata:2", ""],
)
def test_other_tags_and_names_are_not_allowed(asked):
    allowlist = Allowlist(["greenbar/busybox-sh", "localhost:5000/kata"])
    with pytest.raises(ImageNotAllowed) as refused:
        allowlist.check(asked)
    assert refused.value.field == "image"


@pytest.mark.parametrize("asked", [None, 1, ["greenbar/busybox-sh"]])
def test_an_image_that_is_not_a_string_is_not_allowed(asked):
    with pytest.raises(ImageNotAllowed):
        Allowlist(["greenbar/busybox-sh"]).check(asked)


def test_the_refusal_names_the_allowed_images():
    with pytest.raises(ImageNotAllowed, match="greenbar/busybox-sh"):
        Allowlist(["greenbar/busybox-sh"]).check("evil/image")


# app.sandbox.spec.spec


def test_the_container_spec_is_labelled_and_hardened_from_the_settings():
    labels = run_labels(SETTINGS, "run-1")
    made = spec(SETTINGS, "sha256:abc", container_name("run-1"), labels, 100007, "sup-vol")
    assert made["name"] == "greenbar-run-run-1"
    assert made["image"] == "sha256:abc"
    assert made["labels"]["greenbar.kind"] == "run"
    assert made["labels"]["greenbar.run"] == "run-1"
    assert made["labels"]["greenbar.deployment"] == SETTINGS.deployment
    # The supervisor starts as root and at once becomes 41965; the run is 100007.
    assert made["user"] == "0:0"
    assert made["command"] == ["/greenbar/supervisor", "100007", "100007", "41965"]
    assert made["host_config"]["cap_add"] == ["SETUID", "SETGID", "KILL", "SETPCAP"]
    assert made["host_config"]["binds"] == {"sup-vol": {"bind": "/greenbar", "mode": "ro,nocopy"}}
    assert "uid=100007,gid=100007" in made["host_config"]["tmpfs"]["/sandbox"]
    host = made["host_config"]
    assert host["network_mode"] == "none"
    assert host["read_only"] is True
    assert host["cap_drop"] == ["ALL"]
    assert "no-new-privileges" in host["security_opt"]
    assert host["memswap_limit"] == host["mem_limit"] == 768 * 1024 * 1024
    assert host["pids_limit"] == 128
    assert "nr_inodes=16384" in host["tmpfs"]["/sandbox"]
    assert "nr_inodes=4096" in host["tmpfs"]["/tmp"]
    assert {u["name"] for u in host["ulimits"]} == {"core", "fsize", "nofile", "stack"}


def test_the_container_has_cyber_dojos_home_and_sandbox_variables_and_a_bounded_home():
    made = spec(SETTINGS, "sha256:abc", "n", {}, 100007, "sup", volume="greenbar-kata-k")
    assert made["environment"] == {
        "HOME": "/home/sandbox",
        "CYBER_DOJO_SANDBOX": "/sandbox",
        "CYBER_DOJO_RUNNER": "greenbar",
    }
    home = made["host_config"]["tmpfs"]["/home/sandbox"]
    assert "size=16m,nr_inodes=2048,uid=100007,gid=100007" in home, "a kata run gets one too"
    assert "/sandbox" not in made["host_config"]["tmpfs"]


def test_the_container_runs_under_runc_unless_another_runtime_is_set():
    host = spec(SETTINGS, "sha256:abc", "n", {}, 100001, "sup")["host_config"]
    assert (host["runtime"], host["init"], host["pids_limit"]) == ("runc", True, 128)
    gvisor = dataclasses.replace(SETTINGS, runtime="runsc")
    host = spec(gvisor, "sha256:abc", "n", {}, 100001, "sup")["host_config"]
    # gVisor's own threads share the pids cgroup; the run is held by RLIMIT_NPROC instead.
    assert (host["runtime"], host["init"], host["pids_limit"]) == ("runsc", False, 128 * 32)
    assert host["mem_limit"] == (768 + 64) * 1024 * 1024


def test_the_request_carries_the_runs_process_limit():
    assert Limits(1, 10, 1, nproc=126).encoded().endswith(b"nproc=126\n")


def test_a_result_s_wire_form_carries_the_oom_flag_and_its_measures_null_when_unknown():
    unknown = a_result(Outcome.AMBER).to_wire()
    assert unknown["oom_killed"] is False
    assert [unknown[k] for k in ("run_ms", "cpu_ms", "memory_peak_kib")] == [None] * 3
    measured = dataclasses.replace(
        a_result(Outcome.AMBER), oom_killed=True, run_ms=9, cpu_ms=7, memory_peak_kib=1024
    )
    wire = json.loads(json.dumps(measured.to_wire()))
    assert (wire["oom_killed"], wire["run_ms"], wire["cpu_ms"]) == (True, 9, 7)
    assert wire["memory_peak_kib"] == 1024 and wire["outcome"] == "amber"
    assert RunResult.from_wire(wire) == measured


def test_a_result_recorded_before_it_had_measures_still_reads():
    wire = a_result(Outcome.GREEN).to_wire()
    for later in ("oom_killed", "run_ms", "cpu_ms", "memory_peak_kib"):
        del wire[later]
    old = RunResult.from_wire(wire)
    assert (old.oom_killed, old.cpu_ms) == (False, None)


def test_the_api_description_lists_the_oom_flag_and_each_measure_a_result_carries():
    from web.contract import measured_properties

    described = measured_properties()
    measured = dataclasses.replace(a_result(Outcome.RED), oom_killed=True, cpu_ms=3)
    for wire in (a_result(Outcome.RED).to_wire(), measured.to_wire()):
        assert isinstance(wire["oom_killed"], bool)
        for name, schema in described.items():
            if schema["type"] == "integer":
                assert wire[name] is None or wire[name] >= 0
                assert schema["nullable"] is True
    assert set(described) == {"oom_killed", "run_ms", "cpu_ms", "memory_peak_kib"}
