"""Pure logic, no services: validation, the input tar, text cleaning, the output tar, the framed
stream, configuration and the allowlist."""

import dataclasses
import hashlib
import io
import socket
import struct
import tarfile
import threading
import time
from pathlib import Path

import pytest

from app.allowlist import Allowlist
from app.config import Settings
from app.errors import ConfigError, ImageNotAllowed, InvalidRequest
from app.files import tar_of, validate
from app.harvest import Harvester
from app.sandbox import container_name, run_labels, spec
from app.stream import DIAGNOSTICS_MAX_BYTES, CapExceeded, DeadlinePassed, OutputStream
from app.text import cleaned

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = Settings()
OUT = "greenbar/out/"


# app.files.validate


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


# app.files.tar_of


def _members(tar_bytes: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return {
            m.name: (m, tar.extractfile(m).read() if m.isreg() else None)  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def test_the_input_tar_round_trips_every_file_owned_by_the_sandbox_user():
    files = {"cyber-dojo.sh": "echo hi\n", "src/deep/hiker.py": "π = 3.14\n", "a b/-n": ""}
    members = _members(tar_of(files, mtime=1_700_000_000))
    regular = {name: data for name, (info, data) in members.items() if info.isreg()}
    assert regular == {name: content.encode() for name, content in files.items()}
    assert {name for name, (info, _) in members.items() if info.isdir()} == {
        "src",
        "src/deep",
        "a b",
    }
    for info, _ in members.values():
        assert (info.uid, info.gid) == (41966, 51966)
        assert info.mtime == 1_700_000_000


def test_a_lone_surrogate_in_content_reaches_the_sandbox_as_a_replacement_character():
    members = _members(tar_of({"cyber-dojo.sh": "", "lone.txt": "a\udc80b"}, mtime=0))
    assert members["lone.txt"][1] == "a\ufffdb".encode()


def test_the_input_tar_lists_each_directory_before_the_files_in_it():
    tar_bytes = tar_of({"cyber-dojo.sh": "", "a/b/c.txt": "", "a/d.txt": ""}, mtime=0)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        order = [(m.name, m.isdir()) for m in tar.getmembers()]
    directories = [name for name, is_dir in order if is_dir]
    assert sorted(directories) == ["a", "a/b"]
    names = [name for name, _ in order]
    assert names.index("a") < names.index("a/b") < names.index("a/b/c.txt")
    assert names.index("a") < names.index("a/d.txt")


# app.text.cleaned


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


# app.harvest.Harvester


def _tar(*entries: tuple[str, bytes | str | None]) -> bytes:
    """A tar of (name, content) pairs; str content is a symlink target, None a directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(content, str):
                info.type = tarfile.SYMTYPE
                info.linkname = content
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class _OnlyRead:
    """A stream that can only be read, like the container's socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


def _harvest(data: bytes, sent=("cyber-dojo.sh",), limit=100, created_max=16):
    return Harvester(limit, sent, created_max).harvest(_OnlyRead(data))


def test_the_harvest_reads_outputs_sent_files_and_created_files():
    data = _tar(
        ("greenbar/out", None),
        (OUT + "stdout", b"out"),
        (OUT + "stderr", b"err"),
        (OUT + "status", b"1\n"),
        ("sandbox", None),
        ("sandbox/cyber-dojo.sh", b"pytest"),
        ("sandbox/sub", None),
        ("sandbox/sub/new.txt", b"new"),
    )
    harvest = _harvest(data)
    assert harvest.complete
    assert harvest.out == {"stdout": b"out", "stderr": b"err", "status": b"1\n"}
    assert harvest.files["cyber-dojo.sh"].head == b"pytest"
    assert set(harvest.created) == {"sub/new.txt"}
    assert harvest.created["sub/new.txt"].digest == hashlib.sha256(b"new").digest()


def test_a_harvest_without_a_status_is_incomplete():
    assert not _harvest(_tar((OUT + "stdout", b"out"))).complete


@pytest.mark.parametrize("cut", [0, 100, 700, 1500])
def test_a_cut_or_malformed_tar_is_an_incomplete_harvest_not_an_exception(cut):
    data = _tar((OUT + "stdout", b"x" * 1000), (OUT + "status", b"0"))
    assert not _harvest(data[:cut]).complete


def test_garbage_instead_of_a_tar_is_an_incomplete_harvest():
    assert not _harvest(b"this is not a tar" * 100).complete


def test_only_the_first_16_created_files_by_name_are_kept_whatever_their_order():
    names = [f"f{i:02}" for i in range(30)]
    entries = [(OUT + "status", b"0")] + [(f"sandbox/{n}", n.encode()) for n in reversed(names)]
    harvest = _harvest(_tar(*entries))
    assert sorted(harvest.created) == names[:16]
    assert harvest.created["f07"].head == b"f07"


def test_binary_created_files_are_dropped_and_do_not_count_against_the_cap():
    binaries = [(f"sandbox/a{i}.bin", b"\x00\x01") for i in range(5)]
    texts = [(f"sandbox/b{i}.txt", b"text") for i in range(3)]
    harvest = _harvest(_tar((OUT + "status", b"0"), *binaries, *texts), created_max=3)
    assert sorted(harvest.created) == ["b0.txt", "b1.txt", "b2.txt"]


def test_a_nul_after_the_first_8000_bytes_still_counts_as_text():
    late_nul = b"x" * 8000 + b"\x00"
    harvest = _harvest(_tar((OUT + "status", b"0"), ("sandbox/late.txt", late_nul)), limit=9000)
    assert harvest.created["late.txt"].is_text


def test_a_sent_file_is_kept_even_when_it_became_binary():
    harvest = _harvest(_tar((OUT + "status", b"0"), ("sandbox/cyber-dojo.sh", b"\x00")))
    assert not harvest.files["cyber-dojo.sh"].is_text


def test_symlinks_directories_and_entries_outside_the_sandbox_are_ignored():
    data = _tar(
        (OUT + "status", b"0"),
        ("sandbox/passwd", "/etc/passwd"),
        ("sandbox/up", "../.."),
        ("sandbox/dir", None),
        ("etc/passwd", b"root:x:0:0"),
        ("sandboxed/x", b"not in the sandbox"),
    )
    harvest = _harvest(data)
    assert harvest.complete
    assert harvest.created == {}
    assert harvest.files == {}


def test_only_the_head_of_a_long_member_is_kept_but_the_digest_covers_it_all():
    content = bytes(range(1, 256)) * 40 + b"tail"
    harvest = _harvest(_tar((OUT + "status", b"0"), ("sandbox/long.txt", content)), limit=100)
    found = harvest.created.get("long.txt") or harvest.files["long.txt"]
    assert found.head == content[:101]
    assert found.digest == hashlib.sha256(content).digest()


# app.stream.OutputStream


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


def test_a_harvest_reads_a_framed_tar_through_the_stream(pair):
    reader, writer = pair
    data = _tar((OUT + "stdout", b"framed"), (OUT + "status", b"0"), ("sandbox/n.txt", b"n"))
    framed = b"".join(
        _frame(1, data[i : i + 777]) + _frame(2, b"!") for i in range(0, len(data), 777)
    )

    def send() -> None:
        writer.sendall(framed)
        writer.close()

    sender = threading.Thread(target=send)
    sender.start()
    stream = OutputStream(reader, time.monotonic() + 10, 1 << 20, time.monotonic)
    harvest = Harvester(100, ["cyber-dojo.sh"], 16).harvest(stream)
    sender.join()
    assert harvest.complete
    assert harvest.out["stdout"] == b"framed"
    assert set(harvest.created) == {"n.txt"}


# app.config.Settings


def test_settings_convert_each_kind_of_variable():
    env = {
        "GREENBAR_PORT": "8000",
        "GREENBAR_CPUS": "1.5",
        "GREENBAR_READ_ONLY": "off",
        "GREENBAR_INIT": " YES ",
        "GREENBAR_IMAGES": "a/b, c/d:1 ,,",
        "GREENBAR_NODE": "node-7",
        "GREENBAR_UNKNOWN": "ignored",
    }
    settings = Settings.from_env(env)
    assert settings.port == 8000
    assert settings.cpus == 1.5
    assert settings.read_only is False
    assert settings.init is True
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


# app.allowlist.Allowlist


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


# app.sandbox.spec


def test_the_container_spec_is_labelled_and_hardened_from_the_settings():
    made = spec(SETTINGS, "sha256:abc", container_name("run-1"), run_labels(SETTINGS, "run-1"))
    assert made["name"] == "greenbar-run-run-1"
    assert made["image"] == "sha256:abc"
    assert made["labels"]["greenbar.kind"] == "run"
    assert made["labels"]["greenbar.run"] == "run-1"
    assert made["user"] == "41966:51966"
    assert made["command"][-1] == str(50 * 1024 + 1)  # max_seconds comes on stdin
    host = made["host_config"]
    assert host["network_mode"] == "none"
    assert host["read_only"] is True
    assert host["cap_drop"] == ["ALL"]
    assert "no-new-privileges" in host["security_opt"]
    assert host["memswap_limit"] == host["mem_limit"] == 768 * 1024 * 1024
    assert host["pids_limit"] == 128
    assert "nr_inodes=16384" in host["tmpfs"]["/sandbox"]
    assert "nr_inodes=4096" in host["tmpfs"]["/tmp"]
    assert {u.name for u in host["ulimits"]} == {"core", "fsize", "nofile", "stack"}


def test_the_container_runs_under_runc_unless_another_runtime_is_set():
    assert spec(SETTINGS, "sha256:abc", "n", {})["host_config"]["runtime"] == "runc"
    gvisor = dataclasses.replace(SETTINGS, runtime="runsc")
    assert spec(gvisor, "sha256:abc", "n", {})["host_config"]["runtime"] == "runsc"
