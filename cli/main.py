"""The `greenbar` command: argument parsing and dispatch to the subcommands."""

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn, TextIO

from cli import nodes, pull, render, run
from cli.api import DEFAULT_URL, Api
from cli.errors import CliError

HTTP_SLACK_SECONDS = 30  # an answer may take ?wait= seconds, plus this
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = f"""\
exit codes:
  run    0 green, 1 red, 2 amber, 3 timed_out, 4 faulty, 5 pulling (the image is
         not on the node yet: try again shortly), 6 no traffic light (the run
         ended in state error, the API answered an error, or it could not be
         reached)
  pull   0 every node pulled the image, 1 a node failed, 2 gave up after
         --timeout, 6 as for run
  nodes  0, or 6 as for run
  all    64 the command line is wrong

environment:
  GREENBAR_URL    the API's base URL (default {DEFAULT_URL})
  GREENBAR_TOKEN  a bearer token: a client token for run and nodes, an admin
                  token for pull
  NO_COLOR        set: no ANSI colour (there is none when stdout is not a
                  terminal either)
"""


RUN_HELP = """\
Sends every regular file under DIR (hidden folders such as .git and symbolic links left
out; a file that is not UTF-8 text goes in base64, exactly; DIR must hold cyber-dojo.sh),
waits for the run, and prints its stdout, its stderr (on stderr), the traffic light and
greenbar's log. With --save, writes the files the run changed or created into a folder.
The exit code follows the traffic light."""

PULL_HELP = """\
Pulls an allowlisted image onto every live node (this needs an admin token when the
API has tokens) and shows one line per node until every node has pulled it or failed:
redrawn in place on a terminal, printed once at the end otherwise."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit 64, so that they never read as amber (2)."""

    def error(self, message: str) -> NoReturn:
        """Prints the usage and the error, and exits 64."""
        self.print_usage(sys.stderr)
        self.exit(render.EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser(environ: Mapping[str, str]) -> Parser:
    """The `greenbar` parser, its defaults taken from `environ`."""
    parser = Parser(
        prog="greenbar",
        description="A command-line client of greenbar's REST API.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    url = environ.get("GREENBAR_URL") or DEFAULT_URL
    parser.add_argument("--url", default=url, help=f"the API's base URL (now {url})")
    parser.add_argument(
        "--token",
        default=environ.get("GREENBAR_TOKEN") or None,
        help="a bearer token, sent as 'Authorization: Bearer ...' (default: $GREENBAR_TOKEN)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(commands)
    _add_pull(commands)
    _add_nodes(commands)
    return parser


def _add_run(commands: "argparse._SubParsersAction[Parser]") -> None:
    sub = commands.add_parser(
        "run",
        help="run a folder's cyber-dojo.sh and show its traffic light",
        description=RUN_HELP,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("dir", metavar="DIR", help="the folder to send")
    which = sub.add_mutually_exclusive_group(required=True)
    which.add_argument("--image", help="the (allowlisted) image to run in")
    which.add_argument("--track", help="a language track: its live image runs")
    sub.add_argument("--version", help="with --track: a version (tag) deployed to the track")
    sub.add_argument("--max-seconds", type=int, help="the run's time limit, whole seconds")
    sub.add_argument("--memory-mib", type=int, help="the run's memory, MiB (at most the image's)")
    sub.add_argument("--cpus", type=_cpus, help="the CPUs the run may use (at most the image's)")
    sub.add_argument(
        "--output-limit-kib",
        type=int,
        help="KiB kept of stdout, stderr and each file brought back (at most the server's)",
    )
    sub.add_argument("--kata", help="a kata id: its runs share a volume as /sandbox")
    sub.add_argument(
        "--stdin",
        metavar="FILE",
        help="a UTF-8 text file cyber-dojo.sh reads on its stdin ('-': this command's own "
        "stdin); without it, cyber-dojo.sh reads nothing",
    )
    sub.add_argument(
        "--cases",
        metavar="FILE",
        help="a JSON array of test cases ({stdin, args, expected_stdout, max_seconds} each): "
        "build.sh runs once, then cyber-dojo.sh once per case",
    )
    sub.add_argument(
        "--compare",
        choices=("exact", "trimmed"),
        help="with --cases: how stdout is held to expected_stdout (default exact)",
    )
    sub.add_argument(
        "--wait", type=int, default=25, help="seconds per long poll (default 25, the API's most)"
    )
    sub.add_argument(
        "--save",
        metavar="FOLDER",
        help="write the files the run changed or created into FOLDER (e.g. DIR itself); "
        "a file that came back cut, or (without --return-binary) may not be UTF-8, is left "
        "as it is and named",
    )
    sub.add_argument(
        "--return-binary",
        action="store_true",
        help="ask for binary files the run changed or created too (base64; with --save, "
        "written as their bytes); without it, only text files come back",
    )
    sub.set_defaults(handler=run.command)


def _add_pull(commands: "argparse._SubParsersAction[Parser]") -> None:
    sub = commands.add_parser(
        "pull",
        help="pull an image onto every live node, with progress (admin token)",
        description=PULL_HELP,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("image", metavar="IMAGE", help="the image, e.g. greenbar/python-pytest")
    sub.add_argument(
        "--timeout", type=float, default=600.0, help="give up after this many seconds (600)"
    )
    sub.set_defaults(handler=pull.command, wait=0)


def _add_nodes(commands: "argparse._SubParsersAction[Parser]") -> None:
    sub = commands.add_parser("nodes", help="list the live nodes, their workers and images")
    sub.set_defaults(handler=nodes.command, wait=0)


def _cpus(text: str) -> float:
    """A finite number of CPUs (JSON has no nan or inf)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _checked(parser: Parser, args: argparse.Namespace) -> argparse.Namespace:
    if args.command == "run" and args.version and not args.track:
        parser.error("run: --version needs --track")
    if args.command == "run" and args.compare and not args.cases:
        parser.error("run: --compare needs --cases")
    if args.command == "run" and not 0 <= args.wait <= 25:
        parser.error("run: --wait must be from 0 to 25")
    return args


def _tolerant(stream: TextIO) -> TextIO:
    """`stream`, made to replace what its encoding cannot show rather than fail."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        with contextlib.suppress(ValueError, OSError):
            reconfigure(errors="replace")
    return stream


def _exit_code(exit_: SystemExit) -> int:
    if exit_.code is None:
        return 0
    return exit_.code if isinstance(exit_.code, int) else render.EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Runs `greenbar` with `argv` (default: the command line); returns the exit code."""
    environ = os.environ
    parser = build_parser(environ)
    try:
        args = _checked(parser, parser.parse_args(argv))
    except SystemExit as exit_:
        return _exit_code(exit_)
    out, err = _tolerant(sys.stdout), _tolerant(sys.stderr)
    api = Api(args.url, args.token, timeout=args.wait + HTTP_SLACK_SECONDS)
    try:
        return int(args.handler(api, args, out, err, render.wants_colour(out, environ)))
    except CliError as error:
        out.flush()
        err.write(f"greenbar: {error}\n")
        return render.EXIT_ERROR
    except KeyboardInterrupt:
        err.write("\n")
        return EXIT_INTERRUPTED
