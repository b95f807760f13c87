"""Pure rendering: traffic lights, exit codes, pull progress bars and the nodes table.

Nothing here reads or writes a stream, so every function can be tested on its own.
"""

import math
from collections.abc import Mapping
from typing import Any, Protocol

RESET = "\033[0m"
DOT = "\u25cf"
COLOURS = {
    "green": "32",
    "red": "31",
    "amber": "33",
    "timed_out": "35",
    "faulty": "1;31",
    "pulling": "36",
    "error": "1;31",
    "pulled": "32",
    "failed": "31",
}
EXIT_CODES = {"green": 0, "red": 1, "amber": 2, "timed_out": 3, "faulty": 4, "pulling": 5}
EXIT_ERROR = 6
EXIT_USAGE = 64
BAR_WIDTH = 24
FULL, EMPTY = "#", "."


class Terminal(Protocol):
    """A stream that can say whether it is a terminal."""

    def isatty(self) -> bool: ...


# colour


def wants_colour(stream: Terminal, environ: Mapping[str, str]) -> bool:
    """ANSI colour only on a terminal, and never when `NO_COLOR` is set (non-empty)."""
    return not environ.get("NO_COLOR") and is_terminal(stream)


def is_terminal(stream: Terminal) -> bool:
    """Whether `stream` is a terminal (False for anything that cannot say)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def paint(text: str, name: str, colour: bool) -> str:
    """`text` in the colour named `name` (an outcome or a pull state), or as is."""
    code = COLOURS.get(name)
    if not colour or code is None:
        return text
    return f"\033[{code}m{text}{RESET}"


# runs


def exit_code(outcome: str) -> int:
    """The exit code of an outcome: green 0, red 1, amber 2, timed_out 3, faulty 4, pulling 5,
    anything else (the `error` state, an unknown outcome) 6."""
    return EXIT_CODES.get(outcome, EXIT_ERROR)


def outcome_of(run: Mapping[str, Any]) -> str:
    """The run's traffic light, or `error` when it ended in the error state or has no result."""
    if run.get("state") != "done":
        return "error"
    outcome = (run.get("result") or {}).get("outcome")
    return outcome if isinstance(outcome, str) and outcome else "error"


def light_line(run: Mapping[str, Any], colour: bool) -> str:
    """E.g. `● red  (status 1, 312 ms, greenbar/python-pytest on node-a)`."""
    outcome = outcome_of(run)
    details = error_details(run) if run.get("state") != "done" else run_details(run)
    head = paint(f"{DOT} {outcome}", outcome, colour)
    return f"{head}  ({', '.join(details)})" if details else head


def run_details(run: Mapping[str, Any]) -> list[str]:
    """Status, duration, and image on node, as far as the result has them."""
    result = run.get("result") or {}
    details = []
    if result.get("status") is not None:
        details.append(f"status {result['status']}")
    if isinstance(result.get("duration_ms"), int | float):
        details.append(f"{result['duration_ms']:.0f} ms")
    image, node = result.get("image") or run.get("image"), result.get("node") or run.get("node")
    if image:
        details.append(f"{image} on {node}" if node else str(image))
    return details


def error_details(run: Mapping[str, Any]) -> list[str]:
    """Why greenbar could not carry the run out."""
    if run.get("state") == "error":
        return [str(run.get("error") or "greenbar could not carry the run out")]
    return [f"the run ended in state {run.get('state')!r} without a result"]


def output_text(output: Any, name: str) -> str:
    """A result's `stdout` or `stderr` (`{"content", "truncated"}`) as printed: ending in a
    newline when not empty, with a note when greenbar truncated it."""
    if not isinstance(output, Mapping):
        return ""
    text = str(output.get("content") or "")
    if text and not text.endswith("\n"):
        text += "\n"
    if output.get("truncated"):
        text += f"[greenbar: {name} truncated at the output limit]\n"
    return text


def cases_text(cases: Any, colour: bool) -> str:
    """One line per case of a run with cases, e.g. `case 2  ✗ failed  (status 1, 14 ms)`."""
    if not isinstance(cases, list):
        return ""
    lines = []
    for index, case in enumerate(cases):
        if not isinstance(case, Mapping):
            continue
        passed = case.get("passed") is True
        said = paint(
            "\u2713 passed" if passed else "\u2717 failed", "green" if passed else "red", colour
        )
        details = ["never started" if case.get("status") is None else f"status {case['status']}"]
        details += ["timed out"] * bool(case.get("timed_out"))
        details += ["out of memory"] * bool(case.get("oom_killed"))
        details.append(f"{case.get('run_ms', 0)} ms")
        lines.append(f"case {index}  {said}  ({', '.join(details)})\n")
    return "".join(lines)


TEST_MARKS = {"pass": ("\u2713", "green"), "skip": ("-", "amber")}


def tests_text(tests: Any, colour: bool) -> str:
    """One line per test of a result's `tests` (exercism's results.json or a JUnit report),
    e.g. `✗ test_hiker.test_life  assert 54 == 42`, the message's first line only."""
    if not isinstance(tests, Mapping) or not isinstance(tests.get("tests"), list):
        return ""
    lines = []
    for test in tests["tests"]:
        if not isinstance(test, Mapping):
            continue
        mark, name = TEST_MARKS.get(str(test.get("status")), ("\u2717", "red"))
        message = str(test.get("message") or "").strip().splitlines()
        said = f"  {message[0]}" if message and test.get("status") != "pass" else ""
        lines.append(f"{paint(mark, name, colour)} {test.get('name')}{said}\n")
    return "".join(lines)


def log_text(run: Mapping[str, Any]) -> str:
    """The result's `log` (greenbar's diagnostics), ending in a newline, or ``""``."""
    log = str((run.get("result") or {}).get("log") or "")
    return log if not log or log.endswith("\n") else log + "\n"


# pulls


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A progress bar of exactly `width` cells between brackets; full only at 1."""
    if math.isnan(fraction):
        fraction = 0.0
    filled = int(min(max(fraction, 0.0), 1.0) * width)
    return "[" + FULL * filled + EMPTY * (width - filled) + "]"


def fraction_of(node: Mapping[str, Any]) -> float:
    """How far a node's pull is: by layers when known, else by bytes; 1 once pulled."""
    if node.get("state") == "pulled":
        return 1.0
    progress = node.get("progress") or {}
    for done, total in (("layers_done", "layers_total"), ("bytes_done", "bytes_total")):
        if progress.get(total):
            return float(progress.get(done) or 0) / float(progress[total])
    return 0.0


def short_digest(digest: str) -> str:
    """`sha256:` and the first 12 hex digits of a content-addressed id."""
    algorithm, _, hexits = digest.rpartition(":")
    return f"{algorithm}:{hexits[:12]}" if algorithm else hexits[:12]


def human_bytes(count: float) -> str:
    """E.g. `512 B`, `1.5 KiB`, `12.0 MiB`."""
    if count < 1024:
        return f"{count:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        count /= 1024
        if count < 1024 or unit == "GiB":
            break
    return f"{count:.1f} {unit}"


def progress_text(node: Mapping[str, Any]) -> str:
    """What follows a node's bar: its short digest, its error, or its layers and bytes."""
    state = node.get("state")
    if state == "pulled":
        return short_digest(str(node.get("digest") or ""))
    if state == "failed":
        return str(node.get("error") or "failed")
    progress = node.get("progress") or {}
    parts = []
    if progress.get("layers_total"):
        parts.append(f"{progress.get('layers_done') or 0}/{progress['layers_total']} layers")
    if progress.get("bytes_total"):
        done = human_bytes(progress.get("bytes_done") or 0)
        parts.append(f"{done} / {human_bytes(progress['bytes_total'])}")
    return ", ".join(parts) or "waiting"


def pull_lines(nodes: Mapping[str, Mapping[str, Any]], colour: bool) -> list[str]:
    """One line per node, by name: name, state, bar, and digest, error or progress."""
    width = max((len(name) for name in nodes), default=0)
    lines = []
    for name in sorted(nodes):
        node = nodes[name]
        state = str(node.get("state") or "pulling")
        shown = paint(f"{state:<7}", state, colour)
        text = f"{name:<{width}}  {shown}  {bar(fraction_of(node))}  {progress_text(node)}"
        lines.append(text.rstrip())
    return lines


def redraw(lines: list[str], height: int) -> str:
    """Text that replaces the `height` lines drawn last (cursor up, clear each line) by
    `lines`, padded with blank lines to at least `height`."""
    padded = lines + [""] * (height - len(lines))
    up = f"\033[{height}A\r" if height else ""
    return up + "".join(f"\033[2K{line}\n" for line in padded)


# nodes


def nodes_table(nodes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """`GET /nodes` as a table: node, workers, docker ok, and one image a line."""
    rows = [["NODE", "WORKERS", "DOCKER", "IMAGES"]]
    for name in sorted(nodes):
        node = nodes[name]
        images = [image_cell(image) for image in node.get("images") or []] or ["-"]
        docker = "ok" if node.get("docker") else "DOWN"
        rows.append([name, str(worker_count(node.get("workers"))), docker, images[0]])
        rows.extend(["", "", "", image] for image in images[1:])
    return table(rows)


def worker_count(workers: Any) -> int:
    """`workers` is a list of worker names; a bare number is taken as is."""
    if isinstance(workers, list | tuple | dict):
        return len(workers)
    return int(workers or 0)


def image_cell(image: Mapping[str, Any]) -> str:
    """An image's name and short digest."""
    digest = short_digest(str(image.get("digest") or ""))
    return f"{image.get('image', '?')} {digest}".rstrip()


def table(rows: list[list[str]]) -> list[str]:
    """Rows as left-aligned columns two spaces apart (the last column not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines
