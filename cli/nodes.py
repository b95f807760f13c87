"""`greenbar nodes`: the live nodes, their workers, Docker engines and images."""

import argparse
from typing import TextIO

from cli import render
from cli.api import Api


def command(api: Api, args: argparse.Namespace, out: TextIO, err: TextIO, colour: bool) -> int:
    """Prints `GET /nodes` as a table; 0 (also when no node is live, which it says).

    Raises:
        ApiError: the API refused or could not be reached.
    """
    nodes = api.get("/nodes").body.get("nodes") or {}
    if not nodes:
        out.write("no live node\n")
        return 0
    out.write("".join(line + "\n" for line in render.nodes_table(nodes)))
    return 0
