"""cyber-dojo's runner API over greenbar's jobs (app/jobs/cyber_dojo.py): its request read into
a RunRequest, a finished run told in cyber-dojo's answer shape, and whether an image is pulled."""

import dataclasses

import pytest

from app.config import Settings
from app.errors import ImageNotAllowed, InvalidRequest
from app.images.allowlist import Allowlist
from app.jobs import cyber_dojo
from app.jobs.records import JobView, State
from app.outcomes import Outcome
from app.sandbox.text import Text
from tests.helpers import a_result

SETTINGS = Settings()
ALLOWED = Allowlist(["greenbar/busybox-sh", "greenbar/python-pytest"])
KEYS = ["stdout", "stderr", "status", "outcome", "log", "created", "changed"]


def _body(**manifest):
    return {
        "id": "34de2W-3",
        "files": {"cyber-dojo.sh": "sh ./test_hiker.sh", "hiker.sh": "answer() { echo 54; }"},
        "manifest": {"image_name": "greenbar/busybox-sh", "max_seconds": 10, **manifest},
    }


def _done(outcome=Outcome.RED, **fields):
    result = dataclasses.replace(a_result(outcome), **fields)
    return JobView("f" * 32, State.DONE, result.image, "test-node", result=result.to_wire())


def _text(content, truncated=False):
    return Text(content=content, truncated=truncated)


# The request


def test_a_run_request_keeps_the_files_image_and_max_seconds_and_the_id_for_tracing():
    asked = cyber_dojo.run_request(_body(max_seconds=7), SETTINGS, ALLOWED)
    assert asked.id == "34de2W-3"
    assert asked.run.image == "greenbar/busybox-sh"
    assert asked.run.files == _body()["files"]
    assert asked.run.max_seconds == 7
    assert asked.run.kata is None  # stateless, as cyber-dojo's runner


def test_a_max_seconds_above_the_limit_is_cut_to_it_as_cyber_dojo_cuts_to_15():
    asked = cyber_dojo.run_request(_body(max_seconds=600), SETTINGS, ALLOWED)
    assert asked.run.max_seconds == SETTINGS.max_seconds_limit


def test_a_manifest_without_max_seconds_gets_the_default():
    body = _body()
    del body["manifest"]["max_seconds"]
    asked = cyber_dojo.run_request(body, SETTINGS, ALLOWED)
    assert asked.run.max_seconds == SETTINGS.max_seconds_default


def test_the_wait_is_max_seconds_and_a_margin_within_net_http_s_60_seconds():
    asked = cyber_dojo.run_request(_body(max_seconds=600), SETTINGS, ALLOWED)
    assert asked.wait_seconds == SETTINGS.max_seconds_limit + cyber_dojo.WAIT_MARGIN_SECONDS
    assert asked.wait_seconds < 60


def test_the_manifest_s_ruby_rag_lambda_goes_with_the_run():
    source = "lambda { |stdout, stderr, status| 'green' }"
    assert cyber_dojo.run_request(_body(rag_lambda=source), SETTINGS, ALLOWED).run.rag_lambda == (
        source
    )


def test_an_image_not_allowlisted_is_refused_naming_manifest_image_name():
    with pytest.raises(ImageNotAllowed) as refused:
        cyber_dojo.run_request(
            _body(image_name="cyberdojofoundation/gcc_assert"), SETTINGS, ALLOWED
        )
    assert refused.value.field == "manifest[image_name]"
    assert "greenbar/busybox-sh" in refused.value.rule


def test_files_without_cyber_dojo_sh_are_refused_naming_files():
    body = {**_body(), "files": {"hiker.sh": ""}}
    with pytest.raises(InvalidRequest) as refused:
        cyber_dojo.run_request(body, SETTINGS, ALLOWED)
    assert refused.value.field == "files"


# The answer


def test_a_finished_run_answers_cyber_dojo_s_keys_with_the_status_as_a_string():
    told = cyber_dojo.answer(
        _done(Outcome.RED, stdout=_text("FAILED: expected 42, got 54\n"), status=1)
    )
    assert list(told) == KEYS
    assert told["stdout"] == {"content": "FAILED: expected 42, got 54\n", "truncated": False}
    assert told["status"] == "1"
    assert told["outcome"] == "red"
    assert told["log"] == {}


def test_created_and_changed_files_are_told_and_deleted_ones_are_not_as_in_cyber_dojo():
    created = {"report.txt": _text("x" * 10, truncated=True)}
    changed = {"hiker.sh": _text("answer() { echo 42; }")}
    told = cyber_dojo.answer(
        _done(Outcome.GREEN, created=created, changed=changed, deleted=["old.txt"])
    )
    assert told["created"] == {"report.txt": {"content": "x" * 10, "truncated": True}}
    assert told["changed"] == {"hiker.sh": {"content": "answer() { echo 42; }", "truncated": False}}
    assert "deleted" not in told


def test_truncated_output_keeps_its_flag():
    told = cyber_dojo.answer(_done(stderr=_text("e" * 100, truncated=True)))
    assert told["stderr"] == {"content": "e" * 100, "truncated": True}


def test_a_timed_out_run_has_cyber_dojo_s_status_142_and_keeps_what_it_printed():
    view = _done(Outcome.TIMED_OUT, stdout=_text("looping\n"), status=137, log="timed out: 2 s")
    told = cyber_dojo.answer(view)
    assert told["outcome"] == "timed_out"
    assert told["status"] == "142"
    assert told["stdout"]["content"] == "looping\n"
    assert told["log"] == {"greenbar_run": view.id, "message": "timed out: 2 s"}


def test_a_run_whose_image_is_being_pulled_has_cyber_dojo_s_status_141():
    told = cyber_dojo.answer(_done(Outcome.PULLING, log="image x is not on node n"))
    assert (told["outcome"], told["status"]) == ("pulling", "141")


def test_a_faulty_rag_lambda_keeps_the_run_s_status_and_says_why_in_the_log():
    told = cyber_dojo.answer(_done(Outcome.FAULTY, status=1, log="the lambda raised"))
    assert (told["outcome"], told["status"]) == ("faulty", "1")
    assert told["log"]["message"] == "the lambda raised"


def test_a_run_greenbar_could_not_carry_out_is_faulty_with_status_143_and_the_reason():
    view = JobView("e" * 32, State.ERROR, "greenbar/busybox-sh", error="the engine failed")
    told = cyber_dojo.answer(view)
    assert list(told) == KEYS
    assert (told["outcome"], told["status"]) == ("faulty", "143")
    assert told["stdout"] == {"content": "", "truncated": False}
    assert (told["created"], told["changed"]) == ({}, {})
    assert told["log"] == {"greenbar_run": "e" * 32, "error": "the engine failed"}


# pull_image


def _node(*images):
    return {"workers": ["w"], "docker": True, "images": [{"image": i} for i in images]}


def test_an_image_on_every_live_node_is_pulled_tag_or_not():
    nodes = {"a": _node("greenbar/busybox-sh"), "b": _node("greenbar/busybox-sh:latest")}
    assert cyber_dojo.pulled("greenbar/busybox-sh:latest", nodes)
    assert cyber_dojo.pulled("greenbar/busybox-sh", nodes)


def test_an_image_missing_from_one_node_or_with_no_node_is_not_pulled():
    nodes = {"a": _node("greenbar/busybox-sh"), "b": _node("greenbar/python-pytest")}
    assert not cyber_dojo.pulled("greenbar/busybox-sh", nodes)
    assert not cyber_dojo.pulled("greenbar/busybox-sh", {})
