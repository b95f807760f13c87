"""Binary files end to end through the API, a real worker and the supervisor: sent in base64,
written as their bytes, and brought back in base64 when the run asks for them."""

import base64
import hashlib
from pathlib import Path
from typing import Any

import docker
import pytest

from cli.main import main
from tests.helpers import remove_kata, run
from tests.integration.test_katas import kata_id

EVERY_BYTE = bytes(range(256))
DATA = EVERY_BYTE * 4  # NULs, 0xff and every other byte value, 1 KiB


def b64(raw: bytes) -> dict[str, str]:
    return {"content": base64.b64encode(raw).decode(), "encoding": "base64"}


def decoded(file: dict[str, Any]) -> bytes:
    assert file["encoding"] == "base64", file
    return base64.b64decode(file["content"], validate=True)


def test_every_byte_value_sent_in_base64_reaches_the_run_and_what_it_makes_comes_back_exact(api):
    script = (
        "sha256sum data.bin; wc -c < data.bin\n"
        "cat data.bin data.bin > twice.bin; printf '\\000\\377' >> twice.bin\n"
    )
    files = {"cyber-dojo.sh": script, "data.bin": b64(DATA)}
    result = run(api, files, return_binary=True)
    said = result["stdout"]["content"].split()
    assert said == [hashlib.sha256(DATA).hexdigest(), "data.bin", str(len(DATA))]
    assert decoded(result["created"]["twice.bin"]) == DATA + DATA + b"\x00\xff"
    assert result["created"]["twice.bin"]["truncated"] is False
    assert result["changed"] == {}, "an unchanged binary file is not reported"


def test_with_return_binary_text_stays_text_and_invalid_utf8_without_a_nul_is_base64(api):
    script = "printf 'caf\\351\\n' > latin1.txt; printf 'plain\\n' > plain.txt"
    result = run(api, {"cyber-dojo.sh": script}, return_binary=True)
    assert result["created"]["plain.txt"] == {"content": "plain\n", "truncated": False}
    assert decoded(result["created"]["latin1.txt"]) == b"caf\xe9\n"


def test_without_return_binary_a_binary_file_is_not_returned_and_text_is_as_ever(api):
    script = "cp data.bin copy.bin; printf 'caf\\351' > latin1.txt; echo made > made.txt"
    result = run(api, {"cyber-dojo.sh": script, "data.bin": b64(DATA)})
    assert set(result["created"]) == {"latin1.txt", "made.txt"}
    assert result["created"]["latin1.txt"] == {"content": "caf\ufffd", "truncated": False}
    assert result["created_truncated"] is False


def test_a_binary_file_over_the_output_limit_comes_back_cut_at_the_limit_in_bytes(api, settings):
    limit = settings.output_limit_kib * 1024
    copies = limit // len(DATA) + 2
    script = f"i=0; while [ $i -lt {copies} ]; do cat data.bin; i=$((i+1)); done > big.bin"
    result = run(api, {"cyber-dojo.sh": script, "data.bin": b64(DATA)}, return_binary=True)
    big = result["created"]["big.bin"]
    assert big["truncated"] is True
    assert decoded(big) == (DATA * copies)[:limit]


def test_a_sent_binary_file_the_run_changes_comes_back_in_changed_only_when_asked(api):
    files = {"cyber-dojo.sh": "printf '\\377\\000' >> data.bin", "data.bin": b64(DATA)}
    asked = run(api, files, return_binary=True)
    assert decoded(asked["changed"]["data.bin"]) == DATA + b"\xff\x00"
    assert run(api, files)["changed"] == {}


def test_binary_files_count_towards_the_created_files_limit_like_text_ones(api, settings):
    most = settings.created_files_max
    script = f"i=0; while [ $i -lt {most + 2} ]; do cp data.bin b$i.bin; i=$((i+1)); done"
    result = run(api, {"cyber-dojo.sh": script, "data.bin": b64(DATA)}, return_binary=True)
    assert len(result["created"]) == most
    assert result["created_truncated"] is True
    assert all(decoded(file) == DATA for file in result["created"].values())


@pytest.fixture
def kata(docker_client: docker.DockerClient, redis_url: str) -> Any:
    name = kata_id()
    yield name
    remove_kata(docker_client, redis_url, name)


def test_a_kata_keeps_a_binary_file_by_its_bytes_and_sees_when_they_change(api, kata):
    first = run(api, {"cyber-dojo.sh": "cp data.bin copy.bin", "data.bin": b64(DATA)}, kata=kata)
    assert "copy.bin" not in first["created"], "binary, and not asked for"
    same = {"cyber-dojo.sh": "cmp data.bin copy.bin && echo same", "data.bin": b64(DATA)}
    second = run(api, same, kata=kata, return_binary=True)
    assert second["stdout"]["content"] == "same\n"
    assert (second["changed"], second["created"]) == ({}, {})
    edited = DATA[::-1]
    script = "cmp -s data.bin copy.bin || echo differs; printf '\\001' >> data.bin"
    third = run(
        api, {"cyber-dojo.sh": script, "data.bin": b64(edited)}, kata=kata, return_binary=True
    )
    assert third["stdout"]["content"] == "differs\n"
    assert decoded(third["changed"]["data.bin"]) == edited + b"\x01"


def test_invalid_base64_is_refused_with_422_naming_the_file(api):
    body = {
        "image": "greenbar/busybox-sh",
        "files": {"cyber-dojo.sh": "true", "data.bin": {"content": "no!", "encoding": "base64"}},
    }
    response = api.post("/runs", json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == "files[data.bin]"
    assert error["rule"].startswith("content must be base64")


def test_greenbar_run_sends_a_binary_file_and_saves_what_the_run_made_as_its_bytes(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, saved = tmp_path / "kata", tmp_path / "saved"
    folder.mkdir()
    (folder / "cyber-dojo.sh").write_text("cat data.bin data.bin > twice.bin; echo PASSED\n")
    (folder / "data.bin").write_bytes(DATA)
    argv = ["--url", url, "run", str(folder), "--image", "greenbar/busybox-sh"]
    code = main([*argv, "--return-binary", "--save", str(saved)])
    assert code == 0, capsys.readouterr()
    assert (saved / "twice.bin").read_bytes() == DATA + DATA
