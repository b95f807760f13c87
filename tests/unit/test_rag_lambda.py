"""Rag lambdas as pure logic, no services: the evaluator program's Python lambdas (the program
itself, run here as a plain child process) and the cached form of an image's lambda.

These lambdas are the tests' own; hostile ones only ever run in the evaluator's container
(tests/system/test_hostile_lambdas.py)."""

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from app.colour.rag_lambda import MISSING, Language, RagLambda
from tests.helpers import ROOT

EVALUATE = ROOT / "images" / "evaluator" / "evaluate.py"
PYTEST_RULE = (
    "import re\n"
    "def colour(stdout, stderr, status):\n"
    "    if status == 0:\n"
    "        return 'green'\n"
    "    if status == 1 and re.search(r'\\d+ failed', stdout):\n"
    "        return 'red'\n"
    "    return 'amber'\n"
)


class _Program:
    """evaluate.py in a child process, asked one JSON line at a time."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(EVALUATE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def ask(self, **request: Any) -> dict[str, Any]:
        given = {"key": "k", "language": "python", "stdout": "", "stderr": "", "status": 0}
        line = json.dumps({"source": None, "limit": 1.0, **given, **request}).encode() + b"\n"
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line)
        self.process.stdin.flush()
        reply: dict[str, Any] = json.loads(self.process.stdout.readline())
        reply.pop("retire", None)  # about the processes of a container; this is no container
        return reply


@pytest.fixture(scope="module")
def program() -> Iterator[_Program]:
    started = _Program()
    yield started
    started.process.kill()
    started.process.wait()


@pytest.mark.parametrize(
    ("stdout", "status", "colour"),
    [("1 passed", 0, "green"), ("2 failed, 1 passed", 1, "red"), ("1 error", 2, "amber")],
)
def test_a_good_lambda_gives_its_colour(
    program: _Program, stdout: str, status: int, colour: str
) -> None:
    reply = program.ask(key="rule", source=PYTEST_RULE, stdout=stdout, status=status)
    assert reply == {"outcome": colour, "log": ""}


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("def colour(a, b, c)\n", "does not compile: SyntaxError"),
        ("raise ValueError('at import')\n", "does not compile: ValueError: at import"),
        ("import os\n", "may import only re, not os"),
        ("x = 1\n", "defines no function colour()"),
        ("def colour(a, b, c):\n    return open('/etc/passwd').read()\n", "NameError"),
        ("def colour(a, b, c):\n    return __import__('socket')\n", "only re, not socket"),
        ("def colour(a, b, c):\n    return 'purple'\n", "returned 'purple'"),
        ("def colour(a, b, c):\n    return None\n", "returned None"),
        ("def colour(a, b):\n    return 'red'\n", "raised TypeError"),
        ("def colour(a, b, c):\n    while True:\n        pass\n", "time limit of 0.2 s"),
        ("def colour(a, b, c):\n    return colour(a, b, c)\n", "raised RecursionError"),
        (
            "def colour(a, b, c):\n    while True:\n        try:\n            pass\n"
            "        except BaseException:\n            pass\n",
            "time limit of 0.2 s",
        ),
        ("x = 0\nwhile True:\n    x += 1\n", "time limit of 0.2 s"),
    ],
)
def test_a_broken_lambda_is_faulty_with_a_log_naming_the_failure_and_showing_the_source(
    program: _Program, source: str, said: str
) -> None:
    reply = program.ask(key=source, source=source, stdout="out", stderr="err", limit=0.2)
    assert reply["outcome"] == "faulty"
    assert said in reply["log"]
    assert reply["log"].endswith(f"--- rag lambda source ---\n{source}")


def test_a_lambda_may_use_re_imported_or_not(program: _Program) -> None:
    uses_re = "def colour(a, b, c):\n    return 'red' if re.match('x', a) else 'green'\n"
    assert program.ask(key="re", source=uses_re, stdout="x")["outcome"] == "red"


def test_a_key_compiled_once_is_called_without_its_source(program: _Program) -> None:
    program.ask(key="once", source=PYTEST_RULE, status=0)
    assert program.ask(key="once", status=1, stdout="1 failed")["outcome"] == "red"


def test_a_key_never_compiled_here_is_unknown(program: _Program) -> None:
    assert program.ask(key="never sent") == {"unknown": True}


def test_a_str_subclass_answer_is_not_a_colour(program: _Program) -> None:
    source = (
        "class Sly(str):\n    def __eq__(self, other):\n        return True\n"
        "    __hash__ = str.__hash__\n"
        "def colour(a, b, c):\n    return Sly('blue')\n"
    )
    assert program.ask(key="sly", source=source)["outcome"] == "faulty"


def test_a_request_the_evaluator_cannot_read_is_faulty_and_it_carries_on(
    program: _Program,
) -> None:
    assert program.process.stdin is not None and program.process.stdout is not None
    program.process.stdin.write(b"this is not json\n")
    program.process.stdin.flush()
    reply = json.loads(program.process.stdout.readline())
    assert reply["outcome"] == "faulty"
    assert "could not read the request" in reply["log"]
    assert program.ask(key="after", source=PYTEST_RULE)["outcome"] == "green"


# RagLambda's cached form.


@pytest.mark.parametrize(
    "found",
    [
        RagLambda(Language.PYTHON, PYTEST_RULE),
        RagLambda(Language.RUBY, "lambda { |o, e, s| :red }\n"),
        RagLambda(Language.RUBY, "", "/usr/local/bin/red_amber_green.rb is a directory"),
        RagLambda(Language.PYTHON, "naïve = '日本'\n"),
        None,
    ],
)
def test_a_lambda_round_trips_through_its_cached_form(found: RagLambda | None) -> None:
    raw = found.encode() if found is not None else MISSING
    assert RagLambda.decode(raw) == found


def test_a_source_cached_before_languages_is_read_as_python() -> None:
    assert RagLambda.decode(PYTEST_RULE.encode()) == RagLambda(Language.PYTHON, PYTEST_RULE)
