"""A run's stdin, end to end through the API, a real worker and the supervisor's stdin pipe."""

import json
from pathlib import Path

import pytest

from cli.main import main
from tests.helpers import run

BIG = 200 * 1024  # over a pipe's 64 KiB buffer: the supervisor must write it as the run reads
MIB = 1024 * 1024


def test_a_line_on_stdin_is_read_by_cyber_dojo_sh(api):
    result = run(api, {"cyber-dojo.sh": 'read line; echo "got $line"'}, stdin="Ada\n")
    assert result["stdout"]["content"] == "got Ada\n"
    assert result["status"] == 0


def test_a_program_reading_all_of_a_stdin_larger_than_a_pipe_buffer_gets_every_byte(api):
    result = run(api, {"cyber-dojo.sh": "wc -c"}, stdin="x" * BIG)
    assert result["stdout"]["content"].strip() == str(BIG)
    assert result["status"] == 0


def test_utf8_stdin_arrives_as_its_utf8_bytes(api):
    result = run(api, {"cyber-dojo.sh": "wc -c"}, stdin="π" * 1000)
    assert result["stdout"]["content"].strip() == "2000"


def test_a_program_that_never_reads_a_large_stdin_finishes_normally(api):
    result = run(api, {"cyber-dojo.sh": "echo done"}, stdin="x" * BIG, max_seconds=5)
    assert result["stdout"]["content"] == "done\n"
    assert result["status"] == 0
    assert result["outcome"] != "timed_out"


def test_a_program_that_never_reads_and_runs_out_of_time_is_timed_out_as_ever(api):
    result = run(api, {"cyber-dojo.sh": "sleep 30"}, stdin="x" * BIG, max_seconds=1)
    assert result["outcome"] == "timed_out"


def test_a_program_that_prints_a_mib_before_reading_a_large_stdin_does_not_deadlock(api):
    script = f"head -c {MIB} /dev/zero | tr '\\0' o; wc -c >&2"
    result = run(api, {"cyber-dojo.sh": script}, stdin="x" * BIG, max_seconds=5)
    assert result["outcome"] != "timed_out"
    assert result["status"] == 0
    assert result["stdout"]["truncated"] is True
    assert result["stderr"]["content"].strip() == str(BIG)


def test_without_stdin_a_reader_gets_end_of_file_at_once(api):
    result = run(api, {"cyber-dojo.sh": "cat; echo end"}, max_seconds=5)
    assert result["stdout"]["content"] == "end\n"
    assert result["outcome"] != "timed_out"


def test_an_empty_stdin_is_end_of_file_at_once(api):
    result = run(api, {"cyber-dojo.sh": "cat; echo end"}, stdin="", max_seconds=5)
    assert result["stdout"]["content"] == "end\n"
    assert result["outcome"] != "timed_out"


def test_stdin_over_files_max_kib_is_refused_with_422_naming_stdin(api, settings):
    body = {
        "image": "greenbar/busybox-sh",
        "files": {"cyber-dojo.sh": "cat"},
        "stdin": "x" * (settings.files_max_kib * 1024 + 1),
    }
    response = api.post("/runs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == "stdin"


def test_greenbar_run_with_stdin_sends_the_files_text_to_cyber_dojo_sh(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "kata"
    folder.mkdir()
    (folder / "cyber-dojo.sh").write_text('read line; echo "got $line"\n')
    (tmp_path / "input.txt").write_text("from a file\n")
    argv = ["--url", url, "run", str(folder), "--image", "greenbar/busybox-sh"]
    main([*argv, "--stdin", str(tmp_path / "input.txt")])
    assert "got from a file\n" in capsys.readouterr().out


def test_a_run_given_stdin_holds_no_descriptor_but_its_three_standard_ones(api):
    # the listing's own directory descriptor is the one more python holds while it lists
    script = "python3 -c \"import os; print(' '.join(sorted(os.listdir('/proc/self/fd'))))\""
    result = run(api, {"cyber-dojo.sh": script}, image="greenbar/python-pytest", stdin="x" * BIG)
    assert result["stdout"]["content"] == "0 1 2 3\n", result["stderr"]
