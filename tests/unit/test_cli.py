"""The `greenbar` CLI, a pure HTTP client: its rendering and folder reading as pure functions,
and its commands against a real local HTTP server answering in the README's documented shapes.

The server is a fake of the API (canned JSON, every request recorded): the CLI imports nothing
of greenbar's and only speaks HTTP, so this checks what it sends and how it shows what it gets;
the real API is exercised by the integration tests.
"""

import base64
import io
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from cli import pull, render, run
from cli.api import Api, refusal
from cli.errors import ApiError, CliError
from cli.files import read_folder
from cli.main import main

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "greenbar/python-pytest"
DIGEST = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
RUN_ID = "5f0c6a2b9d8e4f7a8b1c2d3e4f5a6b7c"
PULL_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
OUTCOMES = ["green", "red", "amber", "timed_out", "faulty", "pulling"]


# A fake of greenbar's API on a real HTTP server


@dataclass
class Seen:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    """Canned answers by method and path (each answer used once, the last one kept), and the
    requests received. Like the API: JSON errors, 415 for a POST that is not JSON, 400 for a bad
    `wait`, 404 for an unknown path."""

    url: str = ""
    routes: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, path: str, *answers: tuple[int, dict[str, Any]]) -> None:
        self.routes[(method, path)] = list(answers)

    def respond(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(seen)
            refused = refusal_of(seen)
            if refused:
                return refused
            answers = self.routes.get((seen.method, seen.path))
            if not answers:
                return error(404, f"no such run or pull: {seen.path}")
            return answers.pop(0) if len(answers) > 1 else answers[0]

    def seen(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if (r.method, r.path) == (method, path)]


def refusal_of(seen: Seen) -> tuple[int, dict[str, Any]] | None:
    if seen.method == "POST" and seen.headers.get("content-type") != "application/json":
        return error(415, "Content-Type must be application/json")
    wait = seen.query.get("wait")
    if wait is not None and not 0 <= float(wait) <= 25:
        return error(400, "wait: must be a number of seconds from 0 to 25", field="wait")
    return None


def error(status: int, message: str, **extra: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"status": status, "message": message, **extra}}


def handler_of(fake: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.serve()

        def do_POST(self) -> None:
            self.serve()

        def serve(self) -> None:
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen = Seen(self.command, url.path, query, headers, json.loads(raw) if raw else None)
            status, body = fake.respond(seen)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 202:
                kind = "runs" if url.path == "/runs" else "pulls"
                self.send_header("Location", f"/{kind}/{body['id']}")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeApi]:
    api = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_of(api))
    # It polls for shutdown every 5 ms: each test's teardown waits for one poll.
    thread = threading.Thread(target=server.serve_forever, args=(0.005,), daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield api
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No configuration from the environment, and no real pauses between polls."""
    for name in ("GREENBAR_URL", "GREENBAR_TOKEN", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pull, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(run, "POLL_PAUSE_SECONDS", 0.0)


@pytest.fixture
def kata(tmp_path: Path) -> Path:
    (tmp_path / "cyber-dojo.sh").write_text("python3 -m pytest -q\n")
    (tmp_path / "hiker.py").write_text("def answer():\n    return 6 * 9\n")
    (tmp_path / "test_hiker.py").write_text("from hiker import answer\n")
    return tmp_path


def output(content: str, truncated: bool = False) -> dict[str, Any]:
    return {"content": content, "truncated": truncated}


def finished(outcome: str = "red", **result: Any) -> dict[str, Any]:
    """A done run as `GET /runs/<id>` answers it."""
    full = {
        "outcome": outcome,
        "stdout": output("F\n1 failed in 0.02s\n"),
        "stderr": output(""),
        "status": 1,
        "created": {},
        "changed": {},
        "log": "",
        "duration_ms": 312,
        "image": IMAGE,
        "digest": DIGEST,
        "node": "node-a",
        "worker": "celery@node-a",
        "sandbox_kib": 24,
        **result,
    }
    return {"id": RUN_ID, "state": "done", "image": IMAGE, "node": "node-a", "result": full}


def queued() -> dict[str, Any]:
    return {"id": RUN_ID, "image": IMAGE, "state": "queued"}


def running() -> dict[str, Any]:
    return {"id": RUN_ID, "state": "running", "image": IMAGE, "node": "node-a"}


def node_pull(state: str, layers: tuple[int, int] = (0, 0), **extra: Any) -> dict[str, Any]:
    progress = {"layers_done": layers[0], "layers_total": layers[1]}
    progress.update(bytes_done=layers[0] * 1048576, bytes_total=layers[1] * 1048576)
    return {"state": state, "digest": "", "progress": progress, "error": "", **extra}


def pull_started(**nodes: dict[str, Any]) -> dict[str, Any]:
    """A pull as `POST /pulls` answers it."""
    return {**pull_record(**nodes), "state": "pulling"}


def pull_record(**nodes: dict[str, Any]) -> dict[str, Any]:
    return {"id": PULL_ID, "image": IMAGE, "nodes": nodes}


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


# Exit codes and colours


@pytest.mark.parametrize(
    ("outcome", "code"),
    [("green", 0), ("red", 1), ("amber", 2), ("timed_out", 3), ("faulty", 4), ("pulling", 5)],
)
def test_every_outcome_has_its_exit_code(outcome, code):
    assert render.exit_code(outcome) == code
    assert render.exit_code(render.outcome_of(finished(outcome))) == code


def test_the_error_state_and_unknown_outcomes_exit_6():
    assert render.outcome_of({"id": RUN_ID, "state": "error", "error": "engine died"}) == "error"
    assert render.outcome_of({"id": RUN_ID, "state": "done"}) == "error"
    assert render.exit_code("error") == 6
    assert render.exit_code("purple") == 6


def test_the_light_line_names_status_duration_image_and_node():
    line = render.light_line(finished("red"), colour=False)
    assert line == "\u25cf red  (status 1, 312 ms, greenbar/python-pytest on node-a)"


@pytest.mark.parametrize(("outcome", "code"), [("red", "31"), ("amber", "33"), ("green", "32")])
def test_the_light_is_coloured_red_yellow_green(outcome, code):
    line = render.light_line(finished(outcome), colour=True)
    assert line.startswith(f"\033[{code}m\u25cf {outcome}\033[0m  (status 1")


@pytest.mark.parametrize("outcome", [*OUTCOMES, "error"])
def test_a_plain_light_has_no_escape_codes(outcome):
    assert "\033" not in render.light_line(finished(outcome), colour=False)
    assert "\033" in render.light_line(finished(outcome), colour=True)


def test_colour_only_on_a_terminal_and_never_with_no_color():
    assert render.wants_colour(Tty(), {})
    assert not render.wants_colour(Tty(), {"NO_COLOR": "1"})
    assert not render.wants_colour(io.StringIO(), {})
    assert render.wants_colour(Tty(), {"NO_COLOR": ""})  # no-color.org: set and non-empty


def test_an_error_state_shows_why():
    line = render.light_line({"id": RUN_ID, "state": "error", "error": "docker died"}, False)
    assert line == "\u25cf error  (docker died)"


def test_truncated_output_says_so_and_ends_in_a_newline():
    assert render.output_text(output("abc", truncated=True), "stdout") == (
        "abc\n[greenbar: stdout truncated at the output limit]\n"
    )
    assert render.output_text(output(""), "stderr") == ""
    assert render.output_text(None, "stdout") == ""


# Progress bars, pull lines and the nodes table


@pytest.mark.parametrize(
    ("fraction", "full"), [(0, 0), (0.5, 12), (0.99, 23), (1, 24), (1.7, 24), (-1, 0)]
)
def test_a_bar_is_always_as_wide(fraction, full):
    drawn = render.bar(fraction)
    assert len(drawn) == render.BAR_WIDTH + 2
    assert drawn.count("#") == full
    assert drawn.count(".") == render.BAR_WIDTH - full


def test_a_bar_of_nan_is_empty_and_a_bar_can_be_narrower():
    assert render.bar(math.nan) == "[" + "." * render.BAR_WIDTH + "]"
    assert render.bar(0.5, width=10) == "[#####.....]"


def test_progress_goes_by_layers_then_bytes_and_is_full_once_pulled():
    assert render.fraction_of(node_pull("pulling", (1, 4))) == 0.25
    by_bytes = {"state": "pulling", "progress": {"bytes_done": 3, "bytes_total": 4}}
    assert render.fraction_of(by_bytes) == 0.75
    assert render.fraction_of({"state": "pulling", "progress": {}}) == 0
    assert render.fraction_of({"state": "pulled", "progress": {}}) == 1


def test_pull_lines_show_progress_digest_and_error_aligned():
    lines = render.pull_lines(
        {
            "node-b": node_pull("pulled", (4, 4), digest=DIGEST),
            "a": node_pull("pulling", (1, 4)),
            "node-c": node_pull("failed", (2, 4), error="manifest unknown"),
        },
        colour=False,
    )
    assert lines == [
        "a       pulling  [######..................]  1/4 layers, 1.0 MiB / 4.0 MiB",
        "node-b  pulled   [########################]  sha256:0123456789ab",
        "node-c  failed   [############............]  manifest unknown",
    ]


def test_pull_lines_colour_the_state_only():
    line = render.pull_lines({"n": node_pull("failed", error="boom")}, colour=True)[0]
    assert line.startswith("n  \033[31mfailed \033[0m  [")


def test_a_redraw_moves_up_over_the_last_drawing_and_clears_each_line():
    assert render.redraw(["a", "b"], 0) == "\033[2Ka\n\033[2Kb\n"
    assert render.redraw(["a"], 2) == "\033[2A\r\033[2Ka\n\033[2K\n"


def test_sizes_and_digests_are_short():
    assert render.human_bytes(512) == "512 B"
    assert render.human_bytes(1536) == "1.5 KiB"
    assert render.human_bytes(5 * 1024**3) == "5.0 GiB"
    assert render.short_digest(DIGEST) == "sha256:0123456789ab"
    assert render.short_digest("") == ""


def test_the_nodes_table_has_one_image_a_line():
    nodes = {
        "node-b": {"workers": ["w1@b"], "docker": False, "images": []},
        "node-a": {
            "workers": ["w1@a", "w2@a"],
            "docker": True,
            "images": [
                {"image": "greenbar/busybox-sh", "digest": DIGEST, "pulled_at": 1.0},
                {"image": IMAGE, "digest": DIGEST, "pulled_at": 2.0},
            ],
        },
    }
    assert render.nodes_table(nodes) == [
        "NODE    WORKERS  DOCKER  IMAGES",
        "node-a  2        ok      greenbar/busybox-sh sha256:0123456789ab",
        "                         greenbar/python-pytest sha256:0123456789ab",
        "node-b  1        DOWN    -",
    ]


# Reading a folder


def test_a_folder_is_read_by_relative_names_with_slashes(kata):
    (kata / "src" / "deep").mkdir(parents=True)
    (kata / "src" / "deep" / "x.py").write_text("x = 'naïve'\n")
    folder = read_folder(kata)
    assert folder.files == {
        "cyber-dojo.sh": "python3 -m pytest -q\n",
        "hiker.py": "def answer():\n    return 6 * 9\n",
        "src/deep/x.py": "x = 'naïve'\n",
        "test_hiker.py": "from hiker import answer\n",
    }


def test_hidden_folders_and_links_are_left_out_and_binaries_are_sent_in_base64(kata):
    (kata / ".git" / "objects").mkdir(parents=True)
    (kata / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (kata / ".git" / "objects" / "ab").write_text("x")
    (kata / ".env").write_text("A=1\n")  # a hidden file (not folder) is sent
    (kata / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (kata / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (kata / "nul.txt").write_bytes(b"a\x00b")
    (kata / "link.py").symlink_to(kata / "hiker.py")
    folder = read_folder(kata)
    assert sorted(folder.files) == [
        ".env",
        "cyber-dojo.sh",
        "hiker.py",
        "latin1.txt",
        "logo.png",
        "nul.txt",
        "test_hiker.py",
    ]
    assert folder.files["logo.png"] == {"content": "iVBORw0KGgoAAA==", "encoding": "base64"}
    assert folder.files["latin1.txt"] == {"content": "Y2Fm6Q==", "encoding": "base64"}
    assert folder.files["nul.txt"] == {"content": "YQBi", "encoding": "base64"}


def test_a_folder_without_cyber_dojo_sh_is_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "cyber-dojo.sh").write_text("true\n")  # only at the top counts
    with pytest.raises(CliError, match=r"has no cyber-dojo\.sh"):
        read_folder(tmp_path)
    with pytest.raises(CliError, match="is not a folder"):
        read_folder(tmp_path / "missing")


def test_run_without_cyber_dojo_sh_exits_6_saying_so(fake, tmp_path, capsys):
    (tmp_path / "hiker.py").write_text("")
    assert main(["--url", fake.url, "run", str(tmp_path), "--image", IMAGE]) == 6
    assert "has no cyber-dojo.sh" in capsys.readouterr().err
    assert fake.requests == []


# greenbar run


def test_a_run_answered_at_once_prints_stdout_stderr_and_the_light(fake, kata, capsys):
    answer = finished("red", stderr=output("warning: slow\n"), log="")
    fake.answer("POST", "/runs", (200, answer))
    assert main(["--url", fake.url, "run", str(kata), "--image", IMAGE]) == 1
    printed = capsys.readouterr()
    assert printed.out == (
        "F\n1 failed in 0.02s\n\u25cf red  (status 1, 312 ms, greenbar/python-pytest on node-a)\n"
    )
    assert printed.err == "warning: slow\n"
    [sent] = fake.requests
    assert sent.query == {"wait": "25"}
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {"image": IMAGE, "files": read_folder(kata).files}


def test_stdin_sends_a_files_text_as_the_runs_stdin(fake, kata, tmp_path):
    (tmp_path / "input.txt").write_text("Ada\nπ\n")
    fake.answer("POST", "/runs", (200, finished("green", status=0)))
    argv = ["--url", fake.url, "run", str(kata), "--image", IMAGE, "--stdin"]
    assert main([*argv, str(tmp_path / "input.txt")]) == 0
    [sent] = fake.requests
    assert sent.body == {"image": IMAGE, "files": read_folder(kata).files, "stdin": "Ada\nπ\n"}


def test_stdin_dash_sends_the_clis_own_stdin(fake, kata, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("from a pipe\n"))
    fake.answer("POST", "/runs", (200, finished("green", status=0)))
    assert main(["--url", fake.url, "run", str(kata), "--image", IMAGE, "--stdin", "-"]) == 0
    [sent] = fake.requests
    assert sent.body["stdin"] == "from a pipe\n"


def test_a_stdin_file_that_is_missing_or_binary_exits_6_sending_nothing(
    fake, kata, tmp_path, capsys
):
    (tmp_path / "binary").write_bytes(b"a\x00b")
    for name, said in [("missing", "cannot read"), ("binary", "is not UTF-8 text")]:
        argv = ["--url", fake.url, "run", str(kata), "--image", IMAGE]
        assert main([*argv, "--stdin", str(tmp_path / name)]) == 6
        assert said in capsys.readouterr().err
    assert fake.requests == []


def test_cases_send_the_files_json_array_and_the_compare_mode(fake, kata, tmp_path, capsys):
    cases = [{"stdin": "ada", "expected_stdout": "ADA"}, {"args": ["-n"]}]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    said = [
        {"status": 0, "passed": True, "run_ms": 4, "timed_out": False},
        {"status": None, "passed": False, "run_ms": 0, "timed_out": True},
    ]
    fake.answer("POST", "/runs", (200, finished("timed_out", cases=said)))
    argv = ["--url", fake.url, "run", str(kata), "--image", IMAGE, "--compare", "trimmed"]
    assert main([*argv, "--cases", str(tmp_path / "cases.json")]) == 3
    [sent] = fake.requests
    assert (sent.body["cases"], sent.body["compare"]) == (cases, "trimmed")
    out = capsys.readouterr().out
    assert "case 0  \u2713 passed  (status 0, 4 ms)\n" in out
    assert "case 1  \u2717 failed  (never started, timed out, 0 ms)\n" in out


def test_a_cases_file_that_is_not_a_json_array_exits_6_sending_nothing(
    fake, kata, tmp_path, capsys
):
    (tmp_path / "object.json").write_text('{"stdin": "a"}')
    (tmp_path / "broken.json").write_text("[{")
    for name, said in [("object.json", "JSON array"), ("broken.json", "is not JSON")]:
        argv = ["--url", fake.url, "run", str(kata), "--image", IMAGE]
        assert main([*argv, "--cases", str(tmp_path / name)]) == 6
        assert said in capsys.readouterr().err
    assert fake.requests == []


def test_a_results_tests_are_shown_one_a_line_with_a_failures_first_message_line(
    fake, kata, capsys
):
    tests = {
        "status": "fail",
        "tests": [
            {"name": "test_a", "status": "pass", "message": None},
            {"name": "test_b", "status": "fail", "message": "assert 54 == 42\nwhere..."},
            {"name": "test_c", "status": "skip", "message": "not yet"},
        ],
    }
    fake.answer("POST", "/runs", (200, finished("red", tests=tests)))
    assert main(["--url", fake.url, "run", str(kata), "--image", IMAGE]) == 1
    out = capsys.readouterr().out
    assert "\u2713 test_a\n\u2717 test_b  assert 54 == 42\n- test_c  not yet\n" in out


def test_a_202_is_polled_until_the_run_is_done(fake, kata, capsys):
    fake.answer("POST", "/runs", (202, queued()))
    fake.answer("GET", f"/runs/{RUN_ID}", (200, running()), (200, finished("green", status=0)))
    assert main(["--url", fake.url, "run", str(kata), "--image", IMAGE]) == 0
    polls = fake.seen("GET", f"/runs/{RUN_ID}")
    assert len(polls) == 2
    assert all(p.query == {"wait": "25"} for p in polls)
    assert "\u25cf green  (status 0" in capsys.readouterr().out


@pytest.mark.parametrize(("outcome", "code"), list(zip(OUTCOMES, range(6), strict=True)))
def test_the_exit_code_follows_the_light(fake, kata, outcome, code):
    fake.answer("POST", "/runs", (200, finished(outcome)))
    assert main(["--url", fake.url, "run", str(kata), "--image", IMAGE]) == code


def test_a_track_version_time_limit_kata_and_wait_are_sent(fake, kata):
    fake.answer("POST", "/runs", (200, finished("amber")))
    argv = ["run", str(kata), "--track", "python", "--version", "3.12", "--max-seconds", "5"]
    assert main(["--url", fake.url, *argv, "--kata", "k-1", "--wait", "7"]) == 2
    [sent] = fake.requests
    assert sent.query == {"wait": "7"}
    assert {k: v for k, v in sent.body.items() if k != "files"} == {
        "track": "python",
        "version": "3.12",
        "max_seconds": 5,
        "kata": "k-1",
    }


def test_a_runs_own_memory_cpus_and_output_limit_are_sent(fake, kata):
    fake.answer("POST", "/runs", (200, finished("green", status=0)))
    argv = ["run", str(kata), "--image", IMAGE, "--memory-mib", "256", "--cpus", "0.5"]
    assert main(["--url", fake.url, *argv, "--output-limit-kib", "4"]) == 0
    [sent] = fake.requests
    assert {k: v for k, v in sent.body.items() if k != "files"} == {
        "image": IMAGE,
        "memory_mib": 256,
        "cpus": 0.5,
        "output_limit_kib": 4,
    }


def test_the_log_is_printed_after_the_light(fake, kata, capsys):
    log = "timed out: cyber-dojo.sh ran past 10 s"
    fake.answer("POST", "/runs", (200, finished("timed_out", status=137, log=log)))
    assert main(["--url", fake.url, "run", str(kata), "--image", IMAGE]) == 3
    assert capsys.readouterr().out.endswith(f"node-a)\n{log}\n")


def test_a_run_in_the_error_state_exits_6_with_its_reason(fake, kata, capsys):
    fake.answer("POST", "/runs", (202, queued()))
    failed = {"id": RUN_ID, "state": "error", "image": IMAGE, "error": "the engine failed"}
    fake.answer("GET", f"/runs/{RUN_ID}", (200, failed))
    assert main(["--url", fake.url, "run", str(kata), "--image", IMAGE]) == 6
    assert "\u25cf error  (the engine failed)" in capsys.readouterr().out


def test_a_binary_file_is_sent_in_base64_and_return_binary_only_when_asked(fake, kata):
    (kata / "logo.png").write_bytes(bytes(range(256)))
    fake.answer("POST", "/runs", (200, finished("green")))
    fake.answer("POST", "/runs", (200, finished("green")))
    main(["--url", fake.url, "run", str(kata), "--image", IMAGE])
    main(["--url", fake.url, "run", str(kata), "--image", IMAGE, "--return-binary"])
    plain, asking = (seen.body for seen in fake.requests)
    sent = plain["files"]["logo.png"]
    assert sent["encoding"] == "base64"
    assert base64.b64decode(sent["content"]) == bytes(range(256))
    assert "return_binary" not in plain
    assert asking["return_binary"] is True


def test_save_writes_changed_and_created_files_decoding_base64_but_not_those_cut(
    fake, kata, tmp_path, capsys
):
    (kata / "log.txt").write_text("the whole log")
    created = {
        "out/plot.png": {"content": "AAH/", "encoding": "base64", "truncated": False},
        "log.txt": output("x" * 10, truncated=True),
        "odd.txt": output("caf\ufffd"),
    }
    changed = {"hiker.py": output("def answer():\n    return 42\n")}
    fake.answer("POST", "/runs", (200, finished("green", created=created, changed=changed)))
    argv = ["--url", fake.url, "run", str(kata), "--image", IMAGE, "--save", str(kata)]
    assert main([*argv, "--return-binary"]) == 0
    assert (kata / "out" / "plot.png").read_bytes() == b"\x00\x01\xff"
    assert (kata / "log.txt").read_text() == "the whole log", "a cut file overwrites nothing"
    assert (kata / "odd.txt").read_text() == "caf\ufffd", "with binary files, text is exact"
    assert (kata / "hiker.py").read_text() == "def answer():\n    return 42\n"
    assert "not saved: log.txt: cut at the output limit" in capsys.readouterr().err


def test_save_without_binary_files_leaves_a_text_that_may_have_lost_bytes(
    fake, kata, tmp_path, capsys
):
    (kata / "notes.txt").write_bytes(b"caf\xe9")
    changed = {"notes.txt": output("caf\ufffd"), "plain.txt": output("fine")}
    fake.answer("POST", "/runs", (200, finished("green", changed=changed)))
    argv = ["--url", fake.url, "run", str(kata), "--image", IMAGE, "--save", str(kata)]
    assert main(argv) == 0
    assert (kata / "notes.txt").read_bytes() == b"caf\xe9"
    assert (kata / "plain.txt").read_text() == "fine"
    assert "not saved: notes.txt: may not be UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/escape.txt", "a//b", "linked/x.txt"])
def test_save_refuses_a_name_outside_the_folder_or_through_a_link_and_exits_6(
    fake, kata, tmp_path, capsys, name
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (kata / "linked").symlink_to(elsewhere)
    created = {name: output("hostile")}
    fake.answer("POST", "/runs", (200, finished("green", created=created)))
    argv = ["--url", fake.url, "run", str(kata), "--image", IMAGE, "--save", str(kata)]
    assert main(argv) == 6
    assert "not saved" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []
    assert not (tmp_path.parent / "escape.txt").exists()


def test_save_replaces_a_link_in_the_folder_rather_than_writing_where_it_points(
    fake, kata, tmp_path
):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (kata / "out.txt").symlink_to(target)
    fake.answer("POST", "/runs", (200, finished("green", created={"out.txt": output("new")})))
    main(["--url", fake.url, "run", str(kata), "--image", IMAGE, "--save", str(kata)])
    assert target.read_text() == "keep me"
    assert not (kata / "out.txt").is_symlink()
    assert (kata / "out.txt").read_text() == "new"


def test_a_refusal_prints_the_apis_message_and_exits_6(fake, kata, capsys):
    message = "image: greenbar/nope is not on the allowlist"
    fake.answer("POST", "/runs", error(422, message, field="image", rule="allowlisted"))
    assert main(["--url", fake.url, "run", str(kata), "--image", "greenbar/nope"]) == 6
    printed = capsys.readouterr()
    assert printed.err == f"greenbar: {message} (HTTP 422)\n"
    assert printed.out == ""


def test_a_busy_api_says_when_to_try_again(fake, kata, capsys):
    status, body = error(503, "40 runs are waiting in greenbar.runs already")
    fake.answer("POST", "/runs", (status, body))
    assert main(["--url", fake.url, "run", str(kata), "--image", IMAGE]) == 6
    assert "already (HTTP 503)" in capsys.readouterr().err


def test_a_failed_poll_exits_6(fake, kata, capsys):
    fake.answer("POST", "/runs", (202, queued()))  # no GET route: the fake answers 404
    assert main(["--url", fake.url, "run", str(kata), "--image", IMAGE]) == 6
    assert f"no such run or pull: /runs/{RUN_ID} (HTTP 404)" in capsys.readouterr().err


def test_an_unreachable_api_exits_6(kata, capsys):
    url = "http://127.0.0.1:9"  # discard: nothing listens
    assert main(["--url", url, "run", str(kata), "--image", IMAGE]) == 6
    assert f"greenbar: no answer from {url}" in capsys.readouterr().err


def test_an_error_body_that_is_not_json_falls_back_to_the_status_text():
    failure = ApiError(502, "Bad Gateway")
    assert str(refusal(502, b"<html>")) == str(failure) == "Bad Gateway (HTTP 502)"
    assert str(refusal(503, b"{}", "3")) == "Service Unavailable (HTTP 503); try again after 3 s"


# Tokens and the URL


def test_the_token_is_sent_as_a_bearer_token(fake, kata):
    fake.answer("POST", "/runs", (200, finished("green")))
    main(["--url", fake.url, "--token", "s3cret", "run", str(kata), "--image", IMAGE])
    assert fake.requests[0].headers["authorization"] == "Bearer s3cret"


def test_without_a_token_no_authorization_is_sent(fake, kata):
    fake.answer("POST", "/runs", (200, finished("green")))
    main(["--url", fake.url, "run", str(kata), "--image", IMAGE])
    assert "authorization" not in fake.requests[0].headers


def test_the_url_and_token_default_to_the_environment(fake, monkeypatch):
    monkeypatch.setenv("GREENBAR_URL", fake.url + "/")
    monkeypatch.setenv("GREENBAR_TOKEN", "from-env")
    fake.answer("GET", "/nodes", (200, {"nodes": {}}))
    assert main(["nodes"]) == 0
    [sent] = fake.requests
    assert sent.path == "/nodes"
    assert sent.headers["authorization"] == "Bearer from-env"


def test_a_401_names_the_missing_token(fake, capsys):
    fake.answer("GET", "/nodes", error(401, "a valid bearer token is required"))
    assert main(["--url", fake.url, "nodes"]) == 6
    assert capsys.readouterr().err == "greenbar: a valid bearer token is required (HTTP 401)\n"


# Usage


def test_usage_errors_exit_64_not_amber(kata, capsys):
    assert main(["run", str(kata)]) == 64  # neither --image nor --track
    assert main(["run", str(kata), "--image", IMAGE, "--track", "python"]) == 64
    assert main(["run", str(kata), "--image", IMAGE, "--version", "1"]) == 64
    assert main(["run", str(kata), "--image", IMAGE, "--wait", "26"]) == 64
    assert main(["run", str(kata), "--image", IMAGE, "--compare", "exact"]) == 64
    assert main(["run", str(kata), "--image", IMAGE, "--cpus", "nan"]) == 64
    assert main([]) == 64
    assert "--version needs --track" in capsys.readouterr().err


def test_help_documents_the_exit_codes(capsys):
    assert main(["run", "--help"]) == 0
    printed = capsys.readouterr().out
    assert "0 green, 1 red, 2 amber, 3 timed_out, 4 faulty, 5 pulling" in printed
    assert "6 no traffic light" in printed


# greenbar pull


def test_a_pull_is_followed_until_every_node_pulled(fake, capsys):
    fake.answer("POST", "/pulls", (202, pull_started(a=node_pull("pulling"))))
    fake.answer(
        "GET",
        f"/pulls/{PULL_ID}",
        (200, pull_record(a=node_pull("pulling", (1, 3)), b=node_pull("pulling"))),
        (200, pull_record(a=node_pull("pulled", (3, 3), digest=DIGEST), b=node_pull("pulling"))),
        (200, pull_record(**{n: node_pull("pulled", (3, 3), digest=DIGEST) for n in "ab"})),
    )
    assert main(["--url", fake.url, "pull", IMAGE]) == 0
    assert fake.requests[0].body == {"image": IMAGE}
    assert len(fake.seen("GET", f"/pulls/{PULL_ID}")) == 3
    printed = capsys.readouterr().out  # not a terminal: the lines once, at the end
    assert printed.splitlines() == [
        f"pulling {IMAGE} onto 1 node(s)",
        f"a  pulled   {render.bar(1)}  sha256:0123456789ab",
        f"b  pulled   {render.bar(1)}  sha256:0123456789ab",
    ]


def test_a_pull_that_fails_on_a_node_exits_1_with_its_error(fake, capsys):
    asked = {n: node_pull("pulling") for n in ("a", "b")}
    fake.answer("POST", "/pulls", (202, pull_started(**asked)))
    ended = pull_record(
        a=node_pull("pulled", (3, 3), digest=DIGEST),
        b=node_pull("failed", (1, 3), error="registry: connection refused"),
    )
    fake.answer("GET", f"/pulls/{PULL_ID}", (200, ended))
    assert main(["--url", fake.url, "pull", IMAGE]) == 1
    assert "b  failed   [########................]  registry: connection refused" in (
        capsys.readouterr().out
    )


def test_a_pull_still_going_at_the_timeout_exits_2(fake, capsys):
    going = pull_record(a=node_pull("pulling", (1, 9)))
    fake.answer("POST", "/pulls", (202, pull_started(**going["nodes"])))
    fake.answer("GET", f"/pulls/{PULL_ID}", (200, going))
    started = time.monotonic()
    assert main(["--url", fake.url, "pull", IMAGE, "--timeout", "0.3"]) == 2
    assert time.monotonic() - started < 5
    printed = capsys.readouterr()
    assert "a  pulling  [" in printed.out
    assert printed.err == "greenbar: gave up after 0.3 s; still pulling: a\n"


def test_disabled_pulls_are_said_and_exit_0(fake, capsys):
    said = "pulls are disabled on this deployment (GREENBAR_PULLS_ENABLED=false)"
    fake.answer("POST", "/pulls", (200, {"image": IMAGE, "state": "disabled", "message": said}))
    assert main(["--url", fake.url, "pull", IMAGE]) == 0
    assert capsys.readouterr().out == said + "\n"
    assert len(fake.requests) == 1


def test_a_pull_with_no_live_node_exits_6(fake, capsys):
    fake.answer("POST", "/pulls", error(503, "no live node to pull onto"))
    assert main(["--url", fake.url, "pull", IMAGE]) == 6
    assert "no live node to pull onto (HTTP 503)" in capsys.readouterr().err


def test_on_a_terminal_the_pull_is_redrawn_in_place(fake):
    fake.answer("POST", "/pulls", (202, pull_started(a=node_pull("pulling"))))
    fake.answer(
        "GET",
        f"/pulls/{PULL_ID}",
        (200, pull_record(a=node_pull("pulling", (1, 2)))),
        (200, pull_record(a=node_pull("pulled", (2, 2), digest=DIGEST))),
    )
    screen = Tty()
    api = Api(fake.url)
    record = api.post("/pulls", {"image": IMAGE}).body
    code, _ = pull.follow(api, record, pull.Board(screen, live=True), colour=False, timeout=10)
    assert code == 0
    drawn = screen.getvalue()
    assert drawn.startswith("\033[2Ka  pulling")
    assert drawn.count("\033[1A\r") == 2  # two redraws over the one line
    assert drawn.endswith(f"\033[2Ka  pulled   {render.bar(1)}  sha256:0123456789ab\n")


# greenbar nodes


def test_nodes_prints_the_table(fake, capsys):
    nodes = {
        "node-a": {
            "workers": ["celery@a"],
            "docker": True,
            "images": [{"image": IMAGE, "digest": DIGEST, "pulled_at": 1.0}],
        }
    }
    fake.answer("GET", "/nodes", (200, {"nodes": nodes}))
    assert main(["--url", fake.url, "nodes"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "NODE    WORKERS  DOCKER  IMAGES",
        "node-a  1        ok      greenbar/python-pytest sha256:0123456789ab",
    ]


def test_nodes_says_when_none_is_live(fake, capsys):
    fake.answer("GET", "/nodes", (200, {"nodes": {}}))
    assert main(["--url", fake.url, "nodes"]) == 0
    assert capsys.readouterr().out == "no live node\n"


# python -m cli


def test_python_dash_m_cli_runs_a_folder(fake, kata):
    fake.answer("POST", "/runs", (202, queued()))
    fake.answer("GET", f"/runs/{RUN_ID}", (200, finished("red", stderr=output("oops\n"))))
    env = {k: v for k, v in os.environ.items() if k not in ("GREENBAR_URL", "NO_COLOR")}
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--token", "t", "run", str(kata), "--image", IMAGE],
        cwd=ROOT,
        env={**env, "GREENBAR_URL": fake.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.endswith(
        "\u25cf red  (status 1, 312 ms, greenbar/python-pytest on node-a)\n"
    )
    assert "\033" not in done.stdout  # not a terminal: no colour
    assert done.stderr == "oops\n"
    assert fake.requests[-1].headers["authorization"] == "Bearer t"
