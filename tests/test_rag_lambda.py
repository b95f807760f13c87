"""RagLambda: pure logic, no services."""

import threading

import pytest

from app.rag_lambda import RagLambda

PYTEST_RULE = (
    "import re\n"
    "def colour(stdout, stderr, status):\n"
    "    if status == 0:\n"
    "        return 'green'\n"
    "    if status == 1 and re.search(r'\\d+ failed', stdout):\n"
    "        return 'red'\n"
    "    return 'amber'\n"
)


@pytest.mark.parametrize(
    ("stdout", "status", "colour"),
    [("1 passed", 0, "green"), ("2 failed, 1 passed", 1, "red"), ("1 error", 2, "amber")],
)
def test_a_good_lambda_gives_its_colour(stdout: str, status: int, colour: str) -> None:
    verdict = RagLambda.compile(PYTEST_RULE).colour(stdout, "", status, 1.0)
    assert (verdict.outcome, verdict.log) == (colour, "")


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
    ],
)
def test_a_broken_lambda_is_faulty_with_a_log_naming_the_failure_and_showing_the_source(
    source: str, said: str
) -> None:
    verdict = RagLambda.compile(source).colour("out", "err", 0, 0.2)
    assert verdict.outcome == "faulty"
    assert said in verdict.log
    assert verdict.log.endswith(source)


def test_the_time_limit_also_holds_outside_the_main_thread() -> None:
    looping = RagLambda.compile("def colour(a, b, c):\n    while True:\n        pass\n")
    verdicts = []
    thread = threading.Thread(target=lambda: verdicts.append(looping.colour("", "", 0, 0.2)))
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert verdicts[0].outcome == "faulty"


def test_a_lambda_may_use_re_imported_or_not() -> None:
    uses_re = "def colour(a, b, c):\n    return 'red' if re.match('x', a) else 'green'\n"
    assert RagLambda.compile(uses_re).colour("x", "", 0, 1.0).outcome == "red"
