"""The CLI against the real API (served over HTTP by werkzeug), Redis and worker: the same
requests the fake server of tests/unit/test_cli.py answers, answered for real."""

from pathlib import Path

import pytest

from cli.main import main
from tests.helpers import ROOT


def test_greenbar_run_of_the_shipped_start_files_exits_red(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    start = ROOT / "images" / "python-pytest" / "start"
    code = main(["--url", url, "run", str(start), "--image", "greenbar/python-pytest"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "assert 54 == 42" in out
    assert "red" in out


def test_greenbar_run_of_fixed_files_exits_green(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for found in (ROOT / "images" / "busybox-sh" / "start").iterdir():
        (tmp_path / found.name).write_text(found.read_text().replace("6 * 9", "6 * 7"))
    assert main(["--url", url, "run", str(tmp_path), "--image", "greenbar/busybox-sh"]) == 0
    assert "PASSED" in capsys.readouterr().out


def test_greenbar_nodes_lists_the_live_node(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", url, "nodes"]) == 0
    assert "test-node" in capsys.readouterr().out


def test_a_refused_image_exits_6_with_the_apis_message(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cyber-dojo.sh").write_text("true")
    assert main(["--url", url, "run", str(tmp_path), "--image", "evil/image"]) == 6
    assert "allowed images" in capsys.readouterr().err
