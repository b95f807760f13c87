"""Runs end to end through the API and the real worker: outcomes, outputs and files."""

import threading

from app.config import Settings
from tests.helpers import run, wait_until
from web import create_app

PYTHON = "greenbar/python-pytest"
LIMIT = 50 * 1024
HIKER_TEST = "from hiker import answer\n\n\ndef test_answer():\n    assert answer() == 42\n"
PYTEST = "python3 -m pytest -q"


# Red, green, amber


def test_a_failing_pytest_run_is_red_with_its_assert_in_stdout_and_status_1(api):
    files = {
        "cyber-dojo.sh": PYTEST,
        "hiker.py": "def answer():\n    return 6 * 9\n",
        "test_hiker.py": HIKER_TEST,
    }
    result = run(api, files, image=PYTHON)
    assert result["outcome"] == "red"
    assert result["status"] == 1
    assert "assert 54 == 42" in result["stdout"]["content"]
    assert "1 failed" in result["stdout"]["content"]


def test_a_passing_pytest_run_is_green_with_status_0(api):
    files = {
        "cyber-dojo.sh": PYTEST,
        "hiker.py": "def answer():\n    return 42\n",
        "test_hiker.py": HIKER_TEST,
    }
    result = run(api, files, image=PYTHON)
    assert result["outcome"] == "green"
    assert result["status"] == 0
    assert "1 passed" in result["stdout"]["content"]


def test_a_syntax_error_is_amber_with_status_2_and_syntax_error_in_stdout(api):
    files = {
        "cyber-dojo.sh": PYTEST,
        "hiker.py": "def answer(:\n    return 42\n",
        "test_hiker.py": HIKER_TEST,
    }
    result = run(api, files, image=PYTHON)
    assert result["outcome"] == "amber"
    assert result["status"] == 2
    assert "SyntaxError" in result["stdout"]["content"]


def test_stdout_stderr_and_the_exit_status_are_reported_separately(api):
    result = run(api, {"cyber-dojo.sh": "echo out; echo err >&2; exit 3"})
    assert result["stdout"] == {"content": "out\n", "truncated": False}
    assert result["stderr"] == {"content": "err\n", "truncated": False}
    assert result["status"] == 3


def test_an_allowed_image_missing_from_the_node_runs_nothing_and_says_so(settings):
    missing = "greenbar/not-on-this-node"
    app = create_app(Settings.from_env({}, redis_url=settings.redis_url, images=(missing,)))
    result = run(app.test_client(), {"cyber-dojo.sh": "echo ran"}, image=missing)
    # faulty before nodes pulled missing images; pulling since
    assert result["outcome"] in ("faulty", "pulling")
    assert result["stdout"]["content"] == ""
    assert result["digest"] == ""
    assert missing in result["log"]
    assert "test-node" in result["log"]


# Files


NAMES = ["plain.txt", "it's.txt", "a b.txt", "-n.txt", "naïve-日本.txt"]


def test_changed_and_created_files_keep_awkward_names(api):
    files = {
        "cyber-dojo.sh": (
            "mkdir out\n"
            'for f in *.txt; do echo "made $f" > "out/$f"; echo changed >> "./$f"; done\n'
        ),
        **{name: f"{name}\n" for name in NAMES},
    }
    result = run(api, files)
    assert result["changed"] == {
        name: {"content": f"{name}\nchanged\n", "truncated": False} for name in NAMES
    }
    assert result["created"] == {
        f"out/{name}": {"content": f"made {name}\n", "truncated": False} for name in NAMES
    }


def test_files_in_subdirectories_are_sent_changed_and_created(api):
    files = {
        "cyber-dojo.sh": "cat src/a/in.txt; echo more >> src/a/in.txt; mkdir -p x/y; echo n >x/y/z",
        "src/a/in.txt": "sent\n",
        "src/b/same.txt": "untouched\n",
    }
    result = run(api, files)
    assert result["stdout"]["content"] == "sent\n"
    assert result["changed"] == {"src/a/in.txt": {"content": "sent\nmore\n", "truncated": False}}
    assert result["created"] == {"x/y/z": {"content": "n\n", "truncated": False}}


def test_at_most_16_created_files_are_returned_the_first_by_name(api):
    script = "i=30; while [ $i -ge 10 ]; do echo $i > f$i.txt; i=$((i - 1)); done"
    result = run(api, {"cyber-dojo.sh": script})
    assert list(result["created"]) == [f"f{i}.txt" for i in range(10, 26)]
    assert result["created"]["f17.txt"] == {"content": "17\n", "truncated": False}


def test_a_created_file_over_50_kib_is_truncated(api):
    result = run(api, {"cyber-dojo.sh": "yes 0123456789 | head -c 60000 > big.txt"})
    big = result["created"]["big.txt"]
    assert big["truncated"] is True
    assert big["content"] == ("0123456789\n" * 6000)[:LIMIT]


def test_a_changed_file_over_50_kib_is_truncated(api):
    files = {"cyber-dojo.sh": "yes abc | head -c 51201 >> log.txt", "log.txt": ""}
    result = run(api, files)
    assert result["changed"]["log.txt"]["truncated"] is True
    assert len(result["changed"]["log.txt"]["content"]) == LIMIT


def test_a_file_of_exactly_50_kib_is_not_truncated(api):
    result = run(api, {"cyber-dojo.sh": "yes abc | head -c 51200 > exact.txt"})
    assert result["created"]["exact.txt"]["truncated"] is False
    assert len(result["created"]["exact.txt"]["content"]) == LIMIT


def test_binary_files_are_not_returned(api):
    files = {
        "cyber-dojo.sh": r"printf 'a\000b' > new.bin; printf 'x\000' > sent.txt; echo t > t.txt"
    }
    files["sent.txt"] = "text\n"
    result = run(api, files)
    assert result["created"] == {"t.txt": {"content": "t\n", "truncated": False}}
    assert result["changed"] == {}


def test_a_deleted_file_is_neither_changed_nor_created(api):
    files = {"cyber-dojo.sh": "rm gone.txt; ls", "gone.txt": "here\n", "kept.txt": "kept\n"}
    result = run(api, files)
    assert result["stdout"]["content"] == "cyber-dojo.sh\nkept.txt\n"
    assert result["changed"] == {}
    assert result["created"] == {}


def test_a_changed_file_with_a_second_hard_link_is_returned_under_both_names(api):
    files = {"cyber-dojo.sh": "ln hiker.txt zz.txt; echo changed >> hiker.txt", "hiker.txt": "hi\n"}
    result = run(api, files)
    both = {"content": "hi\nchanged\n", "truncated": False}
    assert result["changed"] == {"hiker.txt": both}
    assert result["created"] == {"zz.txt": both}


def test_a_created_file_whose_name_is_not_utf8_is_reported_under_a_valid_unicode_name(api):
    result = run(api, {"cyber-dojo.sh": r"""printf x > "$(printf 'bad\377name')" """})
    assert len(result["created"]) == 1
    name = next(iter(result["created"]))
    name.encode("utf-8")  # a lone surrogate cannot be encoded: it is not valid Unicode
    assert result["created"][name]["content"] == "x"


# Output


def test_stdout_over_50_kib_is_truncated(api):
    result = run(api, {"cyber-dojo.sh": "yes x | head -c 200000; echo tail >&2"})
    assert result["stdout"] == {"content": "x\n" * (LIMIT // 2), "truncated": True}
    assert result["stderr"] == {"content": "tail\n", "truncated": False}


def test_stderr_over_50_kib_is_truncated(api):
    result = run(api, {"cyber-dojo.sh": "yes e | head -c 100000 >&2"})
    assert result["stderr"]["truncated"] is True
    assert len(result["stderr"]["content"]) == LIMIT


def test_invalid_utf8_in_stdout_is_replaced_and_nul_bytes_are_kept(api):
    result = run(api, {"cyber-dojo.sh": r"printf 'a\000b\377c'"})
    assert result["stdout"] == {"content": "a\x00b\ufffdc", "truncated": False}


# The life of a run


def test_a_run_posted_without_wait_can_be_polled_until_done(api):
    posted = api.post(
        "/runs",
        json={"image": "greenbar/busybox-sh", "files": {"cyber-dojo.sh": "sleep 1; echo polled"}},
    )
    assert posted.status_code == 202
    location = posted.headers["Location"]
    seen = []

    def done() -> bool:
        response = api.get(location)
        assert response.status_code == 200
        seen.append(response.get_json())
        return seen[-1]["state"] == "done"

    wait_until(done, 25, "the polled run to finish")
    assert {view["state"] for view in seen} <= {"queued", "running", "done"}
    assert seen[0]["state"] in ("queued", "running")  # it sleeps a second first
    assert "result" not in seen[0]
    assert seen[-1]["result"]["stdout"]["content"] == "polled\n"


def test_a_short_wait_on_an_unfinished_run_answers_200_with_its_state(api):
    body = {"image": "greenbar/busybox-sh", "files": {"cyber-dojo.sh": "sleep 2"}, "max_seconds": 5}
    run_id = api.post("/runs", json=body).get_json()["id"]
    early = api.get(f"/runs/{run_id}?wait=0.2")
    assert early.status_code == 200
    assert early.get_json()["state"] in ("queued", "running")
    assert "result" not in early.get_json()
    assert api.get(f"/runs/{run_id}?wait=25").get_json()["state"] == "done"


def test_two_clients_waiting_on_one_run_both_get_its_result(api):
    body = {"image": "greenbar/busybox-sh", "files": {"cyber-dojo.sh": "sleep 1; echo both"}}
    run_id = api.post("/runs", json=body).get_json()["id"]
    views: list[dict] = []

    def waiter() -> None:
        response = api.application.test_client().get(f"/runs/{run_id}?wait=25")
        views.append({"code": response.status_code, **response.get_json()})

    threads = [threading.Thread(target=waiter) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(views) == 2
    for view in views:
        assert view["code"] == 200
        assert view["state"] == "done"
        assert view["result"]["stdout"]["content"] == "both\n"


def test_two_runs_at_once_each_get_their_own_result(api):
    def body(word: str) -> dict:
        return {"image": "greenbar/busybox-sh", "files": {"cyber-dojo.sh": f"sleep 1; echo {word}"}}

    ids = {word: api.post("/runs", json=body(word)).get_json()["id"] for word in ("left", "right")}
    for word, run_id in ids.items():
        view = api.get(f"/runs/{run_id}?wait=25").get_json()
        assert view["result"]["stdout"]["content"] == f"{word}\n"
