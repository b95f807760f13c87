"""`greenbar pull IMAGE`: pull an image onto every live node, showing each node's progress."""

import argparse
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from cli import render
from cli.api import Api
from cli.errors import CliError

POLL_SECONDS = 0.5
EXIT_PULLED, EXIT_FAILED, EXIT_GAVE_UP = 0, 1, 2
DISABLED = "pulls are disabled on this deployment"


class Board:
    """Where the per-node lines go: redrawn in place on a terminal (`live`), else written
    once, when the pull is over.

    Args:
        stream: the output.
        live: redraw with ANSI cursor movements as the pull goes.
    """

    def __init__(self, stream: TextIO, live: bool) -> None:
        self._stream = stream
        self._live = live
        self._height = 0

    def draw(self, lines: list[str]) -> None:
        """Shows the pull as it stands (on a terminal only)."""
        if self._live:
            self._write(render.redraw(lines, self._height))
            self._height = max(self._height, len(lines))

    def finish(self, lines: list[str]) -> None:
        """Shows the pull as it ended."""
        if self._live:
            self.draw(lines)
        else:
            self._write("".join(line + "\n" for line in lines))

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()


def node_states(pull: Mapping[str, Any], names: list[str]) -> dict[str, dict[str, Any]]:
    """Each node's state: the pull's `nodes`, and any of `names` it does not list yet as
    pulling."""
    listed = pull.get("nodes")
    nodes = dict(listed) if isinstance(listed, Mapping) else {}
    for name in names:
        nodes.setdefault(name, {"state": "pulling"})
    return nodes


def finished(nodes: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether no node is still pulling."""
    return all(node.get("state", "pulling") != "pulling" for node in nodes.values())


def outcome_code(nodes: Mapping[str, Mapping[str, Any]]) -> int:
    """0 when every node pulled the image, else 1."""
    pulled = all(node.get("state") == "pulled" for node in nodes.values())
    return EXIT_PULLED if pulled else EXIT_FAILED


def names_of(pull: Mapping[str, Any]) -> list[str]:
    """The nodes a `POST /pulls` answer names (`nodes` as an object or a list)."""
    nodes = pull.get("nodes") or []
    return sorted(str(name) for name in nodes)


def follow(
    api: Api,
    pull: dict[str, Any],
    board: Board,
    colour: bool,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Polls `GET /pulls/<id>` until no node is pulling or `timeout` seconds pass.

    Returns:
        The exit code (0 all pulled, 1 one did not, 2 gave up) and the nodes as last seen.

    Raises:
        ApiError: the API refused a request or could not be reached.
    """
    names, deadline = names_of(pull), clock() + timeout
    path = f"/pulls/{urllib.parse.quote(str(pull['id']), safe='')}"
    nodes = node_states(pull, names)
    while not finished(nodes) and clock() < deadline:
        board.draw(render.pull_lines(nodes, colour))
        time.sleep(POLL_SECONDS)
        nodes = node_states(api.get(path).body, names)
    board.finish(render.pull_lines(nodes, colour))
    return (outcome_code(nodes) if finished(nodes) else EXIT_GAVE_UP), nodes


def command(api: Api, args: argparse.Namespace, out: TextIO, err: TextIO, colour: bool) -> int:
    """`greenbar pull`: 0 every node pulled, 1 one did not, 2 gave up after `--timeout`.

    Raises:
        CliError: the API refused or could not be reached, or answered without a pull id.
    """
    pull = api.post("/pulls", {"image": args.image}).body
    if pull.get("state") == "disabled":
        out.write(f"{pull.get('message') or DISABLED}\n")
        return 0
    if not pull.get("id"):
        raise CliError(f"the API's answer has no pull id: {pull}")
    count = len(names_of(pull))
    out.write(f"pulling {pull.get('image') or args.image} onto {count} node(s)\n")
    board = Board(out, render.is_terminal(out))
    code, nodes = follow(api, pull, board, colour, args.timeout)
    if code == EXIT_GAVE_UP:
        waiting = ", ".join(name for name, node in nodes.items() if node.get("state") == "pulling")
        err.write(f"greenbar: gave up after {args.timeout:g} s; still pulling: {waiting}\n")
    return code
