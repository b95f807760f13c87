"""Binary files, no Docker: sent as base64 (validated, recorded as sent, fed as their bytes)
and, when a run asks for them, brought back as base64 (the supervisor's heads cleaned)."""

import base64
import struct
from typing import Any

import pytest

from app.config import Settings
from app.errors import InvalidRequest
from app.externals.clock import ManualClock
from app.externals.memory_engine import Program
from app.images.allowlist import Allowlist
from app.jobs.requests import RunRequest
from app.sandbox import exercism
from app.sandbox.feed import Limits, request
from app.sandbox.files import file_bytes, validate
from app.sandbox.result import RunResult
from app.sandbox.spec import container_name
from app.sandbox.text import Binary, Text, file_head
from tests.contract.conftest import IMAGE, fixture_private_redis, fixture_run_path  # noqa: F401
from tests.contract.programs import supervisor_result
from web.conform import conform
from web.contract import request_schemas
from web.schemas import run_request

SETTINGS = Settings()
EVERY_BYTE = bytes(range(256))


def b64(raw: bytes) -> dict[str, str]:
    return {"content": base64.b64encode(raw).decode(), "encoding": "base64"}


def refused(files: dict[str, Any], settings: Settings = SETTINGS) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as raised:
        validate(files, settings)
    return raised.value


# app.sandbox.files.validate


def test_a_base64_file_is_accepted_and_kept_as_it_was_sent():
    files = {"cyber-dojo.sh": "cat data.bin", "data.bin": b64(EVERY_BYTE)}
    assert validate(files, SETTINGS) == files


def test_a_base64_files_decoded_bytes_count_towards_files_max_kib_not_its_base64_text():
    room = SETTINGS.files_max_kib * 1024 - len("x")
    assert validate({"cyber-dojo.sh": "x", "big.bin": b64(b"\0" * room)}, SETTINGS)
    over = refused({"cyber-dojo.sh": "x", "big.bin": b64(b"\0" * (room + 1))})
    assert (over.field, over.rule) == ("files", f"at most {SETTINGS.files_max_kib} KiB in all")


@pytest.mark.parametrize(
    "text",
    ["not base64!", "YQ", "YQ==\n", "YW Jj", "YQ==YQ==", "-_8=", "éé==", "YQ=\x00"],
    ids=[
        "punctuation",
        "unpadded",
        "newline",
        "space",
        "data-after-padding",
        "url-safe",
        "utf8",
        "nul",
    ],
)
def test_content_that_is_not_base64_is_refused_naming_the_file_and_the_rule(text):
    why = refused({"cyber-dojo.sh": "", "data.bin": {"content": text, "encoding": "base64"}})
    assert why.field == "files[data.bin]"
    assert why.rule.startswith("content must be base64: RFC 4648")


def test_an_encoding_other_than_base64_is_refused_naming_it():
    why = refused({"cyber-dojo.sh": "", "data.bin": {"content": "00ff", "encoding": "hex"}})
    assert (why.field, why.rule) == ("files[data.bin][encoding]", "must be base64")


@pytest.mark.parametrize(
    "content",
    [
        {"content": "YQ=="},
        {"encoding": "base64"},
        {"content": 1, "encoding": "base64"},
        {"content": "YQ==", "encoding": "base64", "mode": 755},
    ],
)
def test_an_object_that_is_not_content_and_encoding_is_refused_naming_the_file(content):
    why = refused({"cyber-dojo.sh": "", "data.bin": content})
    assert why.field == "files[data.bin]"
    assert "encoding" in why.rule


def test_an_empty_base64_file_is_an_empty_file():
    files = {"cyber-dojo.sh": "", "empty.bin": b64(b"")}
    assert file_bytes(validate(files, SETTINGS)["empty.bin"]) == b""


# web.schemas.run_request: the schema, then the rules


def _run_request(**body: Any) -> RunRequest:
    allowed = Allowlist(["greenbar/busybox-sh"])
    body = {"image": "greenbar/busybox-sh", "files": {"cyber-dojo.sh": "cat"}, **body}
    return run_request(body, SETTINGS, allowed, None)  # type: ignore[arg-type]


def test_a_run_request_carries_base64_files_and_return_binary():
    asked = _run_request(files={"cyber-dojo.sh": b64(b"cat x")}, return_binary=True)
    assert asked.files == {"cyber-dojo.sh": b64(b"cat x")}
    assert asked.return_binary is True
    assert _run_request().return_binary is False


@pytest.mark.parametrize(
    ("body", "field", "said"),
    [
        ({"return_binary": "yes"}, "return_binary", "must be true or false"),
        ({"files": {"cyber-dojo.sh": 3}}, "files[cyber-dojo.sh]", "a string or a JSON object"),
        (
            {"files": {"cyber-dojo.sh": {"content": "", "encoding": "utf-16"}}},
            "files[cyber-dojo.sh][encoding]",
            "must be one of base64",
        ),
        (
            {"files": {"cyber-dojo.sh": {"content": ""}}},
            "files[cyber-dojo.sh][encoding]",
            "is required",
        ),
        (
            {"files": {"cyber-dojo.sh": {"content": "%%", "encoding": "base64"}}},
            "files[cyber-dojo.sh]",
            "content must be base64",
        ),
    ],
)
def test_a_run_request_with_a_broken_file_or_flag_is_refused_naming_the_field(body, field, said):
    with pytest.raises(InvalidRequest) as raised:
        _run_request(**body)
    assert raised.value.field == field
    assert said in raised.value.rule


def test_cyber_dojos_run_api_still_takes_text_files_only():
    body = {"id": "x", "files": {"cyber-dojo.sh": b64(b"a")}, "manifest": {"image_name": "i"}}
    with pytest.raises(InvalidRequest) as raised:
        conform(body, request_schemas(SETTINGS)["CyberDojoRun"])
    assert raised.value.field == "files[cyber-dojo.sh]"


def test_a_run_request_with_base64_files_survives_its_record_as_json():
    asked = RunRequest("i", {"cyber-dojo.sh": "x", "a.bin": b64(EVERY_BYTE)}, return_binary=True)
    assert RunRequest.from_wire(asked.to_wire()) == asked


# app.sandbox.feed.request


def _file_frames(data: bytes) -> dict[str, bytes]:
    """The F frames of a request: name to content (after the mode)."""
    found, at = {}, len(b"GBRUN01\n")
    while at < len(data):
        kind, length = data[at : at + 1], struct.unpack(">I", data[at + 1 : at + 5])[0]
        payload = data[at + 5 : at + 5 + length]
        if kind == b"F":
            size = struct.unpack(">H", payload[:2])[0]
            found[payload[2 : 2 + size].decode()] = payload[2 + size + 4 :]
        at += 5 + length
    return found


def test_a_base64_file_reaches_the_sandbox_as_exactly_its_decoded_bytes():
    files = {"cyber-dojo.sh": "cat a.bin", "a.bin": b64(EVERY_BYTE * 2), "t.txt": "π"}
    sent = _file_frames(request(Limits(1, 10, 1), files))
    assert sent == {"cyber-dojo.sh": b"cat a.bin", "a.bin": EVERY_BYTE * 2, "t.txt": "π".encode()}


def test_the_limits_ask_for_binary_files_only_when_the_run_does():
    assert b"binary=1\n" in Limits(1, 10, 1, binary=True).encoded()
    assert b"binary" not in Limits(1, 10, 1).encoded()


# app.sandbox.text.file_head


def test_without_return_binary_every_head_is_cleaned_text_as_ever():
    assert file_head(b"a\0b\xff", 100, binary=False) == Text(content="a\0b\ufffd", truncated=False)


def test_with_return_binary_a_utf8_text_file_stays_text():
    assert file_head("π = 3.14\n".encode(), 100, binary=True) == Text(
        content="π = 3.14\n", truncated=False
    )


@pytest.mark.parametrize(
    "raw", [EVERY_BYTE, b"PK\x03\x04\0\0", b"caf\xe9 latin-1, no NUL", b"\xff", b"ok\xe2\x82"]
)
def test_with_return_binary_a_nul_or_invalid_utf8_comes_back_exactly_in_base64(raw):
    head = file_head(raw, 1000, binary=True)
    assert head == Binary(
        content=base64.b64encode(raw).decode(), encoding="base64", truncated=False
    )


def test_a_binary_file_over_the_limit_is_cut_at_the_limit_in_bytes_before_base64():
    head = file_head(EVERY_BYTE * 3, 500, binary=True)
    assert head["truncated"] is True
    assert base64.b64decode(head["content"]) == (EVERY_BYTE * 3)[:500]


def test_a_utf8_character_split_by_the_limit_leaves_the_file_text():
    raw = "a€b".encode()  # the cut at 3 splits "€"
    assert file_head(raw, 3, binary=True) == Text(content="a", truncated=True)


def test_a_nul_beyond_the_first_8000_bytes_leaves_valid_utf8_text():
    raw = b"x" * 8000 + b"\0tail"
    assert file_head(raw, 10000, binary=True) == Text(content=raw.decode(), truncated=False)


# app.sandbox.runner over a MemoryEngine


def test_a_run_asking_for_binary_files_says_so_to_the_supervisor_and_gets_them_in_base64(run_path):
    played = supervisor_result(0, created={"out.bin": EVERY_BYTE, "out.txt": b"text\n"})
    run_path.engine.add_image(IMAGE, program=Program(stdout=played))
    files = {"cyber-dojo.sh": "true", "in.bin": b64(EVERY_BYTE)}
    result = run_path.runner(ManualClock()).run(IMAGE, files, 10, "binary", return_binary=True)
    received = run_path.engine.received(container_name("binary"))
    assert b"\nbinary=1\n" in received and EVERY_BYTE in received
    assert result.created["out.bin"] == Binary(
        content=base64.b64encode(EVERY_BYTE).decode(), encoding="base64", truncated=False
    )
    assert result.created["out.txt"] == Text(content="text\n", truncated=False)


def test_a_run_not_asking_for_binary_files_cleans_every_head_into_text(run_path):
    played = supervisor_result(0, created={"odd.txt": b"caf\xe9"})
    run_path.engine.add_image(IMAGE, program=Program(stdout=played))
    result = run_path.runner(ManualClock()).run(IMAGE, {"cyber-dojo.sh": "true"}, 10, "text")
    assert b"binary" not in run_path.engine.received(container_name("text"))
    assert result.created["odd.txt"] == Text(content="caf\ufffd", truncated=False)


# app.sandbox.exercism.results


def test_an_exercism_results_json_that_came_back_in_base64_is_unreadable_saying_so():
    empty = Text(content="", truncated=False)
    came = Binary(content=base64.b64encode(b"{\xff}").decode(), encoding="base64", truncated=False)
    ran = RunResult(None, empty, empty, 0, "", 1, "i", "d", "n", {exercism.RESULTS: came})
    found = exercism.results(ran)
    assert isinstance(found, exercism.Unreadable)
    assert "not UTF-8 text" in found.why
