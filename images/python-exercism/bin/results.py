"""Runs pytest on an exercise's solution and writes exercism's results.json (version 3).

Usage: results.py SLUG INPUT_DIR/ OUTPUT_DIR/

Overall status: pass when every test passed, fail when one failed, error when the tests did
not run (a file that does not import, e.g. a syntax error, or no tests at all).
"""

import inspect
import json
import os
import sys
import textwrap

import pytest

OUTPUT_CHARS = 500  # the interface's bound on a test's own output


class Collector:
    """A pytest plugin keeping each test's outcome, in the order the test file lists them."""

    def __init__(self, solution_dir):
        self.solution_dir = solution_dir
        self.order = []
        self.tests = {}
        self.errors = []

    def pytest_collection_modifyitems(self, items):
        for item in items:
            self.order.append(item.nodeid)
            self.tests[item.nodeid] = {
                "name": item.name,
                "status": "error",
                "test_code": _body(item),
            }

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append(self._shown(report.longreprtext))

    def pytest_runtest_logreport(self, report):
        test = self.tests.get(report.nodeid)
        if test is None or (report.when != "call" and report.passed):
            return
        if report.when == "call":
            test["status"] = "pass" if report.passed else "fail"
        elif test["status"] == "pass" or report.when == "setup":
            test["status"] = "error"
        if report.failed:
            test["message"] = self._shown(report.longreprtext)
        if report.capstdout:
            test["output"] = _bounded(report.capstdout)

    def _shown(self, text):
        return text.replace(self.solution_dir, "<solution>/")


def _body(item):
    try:
        lines = inspect.getsource(item.obj).splitlines()
    except (OSError, TypeError):
        return None
    return textwrap.dedent("\n".join(lines[1:])).strip()  # below its def line


def _bounded(output):
    if len(output) <= OUTPUT_CHARS:
        return output
    return output[:OUTPUT_CHARS] + "\nOutput was truncated. Please limit to 500 chars."


def results(collector, exit_code):
    tests = [collector.tests[nodeid] for nodeid in collector.order]
    if collector.errors or not tests or exit_code not in (0, 1):
        message = "\n".join(collector.errors) or f"pytest ran no tests (exit code {exit_code})"
        return {"version": 3, "status": "error", "message": message, "tests": []}
    status = "pass" if all(test["status"] == "pass" for test in tests) else "fail"
    return {"version": 3, "status": status, "message": None, "tests": tests}


def main(argv):
    _slug, solution_dir, output_dir = argv
    collector = Collector(solution_dir)
    os.chdir(solution_dir)
    sys.path.insert(0, solution_dir)
    exit_code = pytest.main(["-q", solution_dir], plugins=[collector])
    written = os.path.join(output_dir, "results.json")
    with open(written + ".part", "w", encoding="utf-8") as out:
        json.dump(results(collector, int(exit_code)), out, indent=2)
    os.replace(written + ".part", written)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
