"""cyber-dojo's runner API (web/cyber_dojo.py), driven as cyber-dojo's web service drives its
runner (cyber-dojo/web `source/app/services/runner_service.rb` and `http_json/requester.rb`):
a JSON body with `Content-Type: application/json`, run_cyber_dojo_sh as a GET with a body,
`/ready?` as the path; and as cyber-dojo's own runner client does, by POST. The real worker
and engine run the bundled images' start points."""

import dataclasses
import json
from pathlib import Path

import pytest

from tests.helpers import free_port
from web import create_app

ROOT = Path(__file__).resolve().parents[2]
BUSYBOX, PYTHON = "greenbar/busybox-sh", "greenbar/python-pytest"
KEYS = {"stdout", "stderr", "status", "outcome", "log", "created", "changed"}


def _start(image: str) -> dict[str, str]:
    start = ROOT / "images" / image.split("/")[1] / "start"
    return {p.name: p.read_text() for p in sorted(start.iterdir())}


def _send(api, path, body, method="get", **headers):
    """As Net::HTTP sends it for cyber-dojo: the JSON body on a GET or a POST."""
    call = getattr(api, method)
    return call(path, data=json.dumps(body), content_type="application/json", headers=headers)


def _run_body(files, image=BUSYBOX, max_seconds=10, **manifest):
    manifest = {"image_name": image, "max_seconds": max_seconds, **manifest}
    return {"id": "34de2W-1", "files": files, "manifest": manifest}


def _ran(api, files, image=BUSYBOX, method="get", **manifest):
    response = _send(api, "/run_cyber_dojo_sh", _run_body(files, image, **manifest), method)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert list(body) == ["run_cyber_dojo_sh"]
    assert set(body["run_cyber_dojo_sh"]) == KEYS
    return body["run_cyber_dojo_sh"]


def _exception(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    said = response.get_json()["exception"]
    assert said["path"] == response.request.path
    assert said["class"] == "greenbar"
    assert said["status"] == status
    assert said["message"]
    if field is not None:
        assert said["field"] == field
        assert said["rule"]
    return said


# Red, amber, green of the bundled start points


@pytest.mark.parametrize("method", ["get", "post"])
def test_busybox_s_start_point_as_shipped_is_red_by_either_method(api, method):
    told = _ran(api, _start(BUSYBOX), method=method)
    assert told["outcome"] == "red"
    assert told["status"] == "1"
    assert "FAILED: expected 42, got 54" in told["stdout"]["content"]
    assert told["stderr"] == {"content": "", "truncated": False}
    assert told["log"] == {}


def test_busybox_s_start_point_with_the_answer_fixed_is_green(api):
    files = _start(BUSYBOX)
    files["hiker.sh"] = files["hiker.sh"].replace("6 * 9", "6 * 7")
    told = _ran(api, files)
    assert (told["outcome"], told["status"]) == ("green", "0")
    assert "PASSED" in told["stdout"]["content"]


def test_busybox_s_start_point_that_does_not_parse_is_amber(api):
    told = _ran(api, {**_start(BUSYBOX), "hiker.sh": "answer() {\n"})
    assert (told["outcome"], told["status"]) == ("amber", "2")


def test_python_pytest_s_start_point_is_red_then_green_then_amber(api):
    files = _start(PYTHON)
    red = _ran(api, files, PYTHON)
    assert (red["outcome"], red["status"]) == ("red", "1")
    assert "assert 54 == 42" in red["stdout"]["content"]
    green = _ran(api, {**files, "hiker.py": "def answer():\n    return 42\n"}, PYTHON)
    assert (green["outcome"], green["status"]) == ("green", "0")
    amber = _ran(api, {**files, "hiker.py": "def answer(:\n"}, PYTHON)
    assert amber["outcome"] == "amber"
    assert "SyntaxError" in amber["stdout"]["content"]


def test_the_manifest_s_rag_lambda_colours_the_run_in_the_image_s_lambda_language(api):
    # cyber-dojo's are Ruby; a client's runs in the language of the image's own (Python here)
    source = (
        "def colour(stdout, stderr, status):\n    return 'green' if '54' in stdout else 'red'\n"
    )
    assert _ran(api, _start(BUSYBOX), rag_lambda=source)["outcome"] == "green"


def test_created_and_changed_files_come_back_as_cyber_dojo_s_web_merges_them(api):
    script = "echo made > report.txt; echo 'answer() { echo 42; }' > hiker.sh"
    told = _ran(api, {"cyber-dojo.sh": script, "hiker.sh": "answer() { echo 54; }\n"})
    assert told["created"] == {"report.txt": {"content": "made\n", "truncated": False}}
    assert told["changed"] == {
        "hiker.sh": {"content": "answer() { echo 42; }\n", "truncated": False}
    }


def test_output_over_the_limit_is_truncated_with_the_flag_set(api, settings):
    limit = settings.output_limit_kib * 1024
    told = _ran(api, {"cyber-dojo.sh": f"head -c {limit + 10} /dev/zero | tr '\\0' x"})
    assert told["stdout"] == {"content": "x" * limit, "truncated": True}


def test_a_run_past_max_seconds_is_timed_out_with_status_142(api):
    told = _ran(api, {"cyber-dojo.sh": "echo started; sleep 30"}, max_seconds=1)
    assert (told["outcome"], told["status"]) == ("timed_out", "142")
    assert told["stdout"]["content"] == "started\n"  # greenbar keeps what it printed
    assert told["log"]["message"]


# Refusals, in cyber-dojo's exception shape with greenbar's status, field and rule


def test_an_image_not_allowlisted_is_422_naming_manifest_image_name(api):
    body = _run_body(_start(BUSYBOX), "cyberdojofoundation/python_pytest:56fa098")
    said = _exception(_send(api, "/run_cyber_dojo_sh", body), 422, "manifest[image_name]")
    assert BUSYBOX in said["rule"]
    assert '"id": "34de2W-1"' in said["body"]  # echoed, as cyber-dojo's runner does


@pytest.mark.parametrize(
    "change, field",
    [
        ({"files": {"hiker.sh": ""}}, "files"),
        ({"files": {"cyber-dojo.sh": "", "../up": ""}}, "files[../up]"),
        ({"manifest": {"max_seconds": 10}}, "manifest[image_name]"),
        ({"manifest": {"image_name": BUSYBOX, "max_seconds": 0}}, "manifest[max_seconds]"),
        ({"manifest": {"image_name": BUSYBOX, "max_seconds": "10"}}, "manifest[max_seconds]"),
        ({"id": 7}, "id"),
        ({"timeout": 5}, "timeout"),
    ],
)
def test_an_invalid_run_is_422_naming_the_field(api, change, field):
    body = {**_run_body({"cyber-dojo.sh": "echo"}), **change}
    _exception(_send(api, "/run_cyber_dojo_sh", body, "post"), 422, field)


@pytest.mark.parametrize("missing", ["id", "files", "manifest"])
def test_a_missing_argument_is_422_naming_it(api, missing):
    body = _run_body({"cyber-dojo.sh": "echo"})
    del body[missing]
    _exception(_send(api, "/run_cyber_dojo_sh", body), 422, missing)


def test_a_body_that_is_not_json_is_400_and_not_application_json_is_415(api):
    response = api.post("/run_cyber_dojo_sh", data="{", content_type="application/json")
    _exception(response, 400)
    response = api.post("/run_cyber_dojo_sh", data="{}", content_type="text/plain")
    _exception(response, 415)


# pull_image


def test_pull_image_of_an_image_every_node_holds_is_pulled(api):
    response = _send(api, "/pull_image", {"id": "34de2W", "image_name": BUSYBOX}, "post")
    assert response.status_code == 200
    assert response.get_json() == {"pull_image": "pulled"}


def test_pull_image_of_an_allowlisted_image_no_node_holds_is_pulling(settings):
    absent = f"localhost:{free_port()}/greenbar-absent:1"  # a pull of it fails at once
    mine = dataclasses.replace(settings, images=(BUSYBOX, absent))
    response = _send(
        create_app(mine).test_client(), "/pull_image", {"id": "a", "image_name": absent}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"pull_image": "pulling"}


def test_pull_image_of_an_image_not_allowlisted_is_422_naming_image_name(api):
    body = {"id": "34de2W", "image_name": "cyberdojofoundation/gcc_assert"}
    _exception(_send(api, "/pull_image", body, "post"), 422, "image_name")


# alive?, ready?, sha


def test_alive_ready_and_sha_answer_cyber_dojo_s_keys_on_the_paths_its_client_asks(api):
    assert _send(api, "/alive?", {}).get_json()["alive?"] is True
    ready = _send(api, "/ready?", {})
    assert (ready.status_code, ready.get_json()["ready?"]) == (200, True)
    sha = _send(api, "/sha", {}).get_json()["sha"]
    assert sha == api.get("/sha").get_json()["sha"]
    assert sha


# Tokens


def test_with_tokens_configured_a_run_without_one_is_401_and_with_one_runs(settings):
    tokened = create_app(dataclasses.replace(settings, client_tokens=("c" * 32,))).test_client()
    body = _run_body({"cyber-dojo.sh": "echo hi"})
    _exception(_send(tokened, "/run_cyber_dojo_sh", body), 401)
    response = _send(tokened, "/run_cyber_dojo_sh", body, Authorization="Bearer " + "c" * 32)
    assert response.status_code == 200
    assert response.get_json()["run_cyber_dojo_sh"]["stdout"]["content"] == "hi\n"
