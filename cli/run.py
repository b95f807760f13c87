"""`greenbar run DIR`: send a folder's files, wait for the run, show its output and light."""

import argparse
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from cli import render
from cli.api import Api
from cli.errors import CliError
from cli.files import read_cases, read_folder, read_input, save_files

FINAL_STATES = ("done", "error")
POLL_PAUSE_SECONDS = 0.25  # between long polls, in case the server answers without waiting
# The run's own limits, each an option of the same name (--memory-mib): the API holds each to
# its image's cap.
LIMITS = ("max_seconds", "memory_mib", "cpus", "output_limit_kib")


def request_body(
    args: argparse.Namespace,
    files: dict[str, Any],
    stdin: str | None = None,
    cases: list[Any] | None = None,
) -> dict[str, Any]:
    """The `POST /runs` body from the command line's options, the folder's files, the run's
    stdin and its test cases (None: none are sent)."""
    body: dict[str, Any] = {"image": args.image} if args.image else {"track": args.track}
    if args.version:
        body["version"] = args.version
    body["files"] = files
    for limit in LIMITS:
        if getattr(args, limit) is not None:
            body[limit] = getattr(args, limit)
    if args.kata:
        body["kata"] = args.kata
    if stdin is not None:
        body["stdin"] = stdin
    if cases is not None:
        body["cases"] = cases
    if getattr(args, "compare", None):
        body["compare"] = args.compare
    if args.return_binary:
        body["return_binary"] = True
    return body


def submit(
    api: Api, body: dict[str, Any], wait: int, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    """POSTs the run and, while it is not final (a 202), long-polls `GET /runs/<id>?wait=`.

    Raises:
        ApiError: the API refused a request or could not be reached.
        CliError: an unfinished answer carries no run id.
    """
    run = api.post(f"/runs?wait={wait}", body).body
    while run.get("state") not in FINAL_STATES:
        run_id = run.get("id")
        if not run_id:
            raise CliError(f"the API's answer has no run id: {run}")
        sleep(POLL_PAUSE_SECONDS)
        run = api.get(f"/runs/{urllib.parse.quote(str(run_id), safe='')}?wait={wait}").body
    return run


def show(run: Mapping[str, Any], out: TextIO, err: TextIO, colour: bool) -> int:
    """Prints the run's stdout, its stderr (on `err`), the traffic light and greenbar's log;
    returns the light's exit code."""
    result = run.get("result") or {}
    _write(out, render.output_text(result.get("stdout"), "stdout"))
    _write(err, render.output_text(result.get("stderr"), "stderr"))
    _write(out, render.cases_text(result.get("cases"), colour))
    _write(out, render.tests_text(result.get("tests"), colour))
    _write(out, render.light_line(run, colour) + "\n" + render.log_text(run))
    return render.exit_code(render.outcome_of(run))


def save(run: Mapping[str, Any], folder: str, exact: bool, err: TextIO) -> None:
    """Writes the files the run changed or created into `folder`, saying which were not
    written and why (see `cli.files.save_files`; `exact`: binary files were asked for).

    Raises:
        CliError: a file cannot be saved.
    """
    result = run.get("result") or {}
    files = {**(result.get("changed") or {}), **(result.get("created") or {})}
    for name, why in save_files(files, Path(folder), exact).items():
        _write(err, f"greenbar: not saved: {name}: {why}\n")


def command(api: Api, args: argparse.Namespace, out: TextIO, err: TextIO, colour: bool) -> int:
    """`greenbar run`: returns the exit code of the run's traffic light.

    Raises:
        CliError: the folder, the --stdin or the --cases file is unusable, the API refused
            or could not be reached, or a file could not be saved (--save).
    """
    folder = read_folder(Path(args.dir))
    stdin = read_input(args.stdin, sys.stdin) if args.stdin is not None else None
    cases = read_cases(args.cases) if args.cases else None
    run = submit(api, request_body(args, folder.files, stdin, cases), args.wait)
    code = show(run, out, err, colour)
    if args.save is not None:
        save(run, args.save, args.return_binary, err)
    return code


def _write(stream: TextIO, text: str) -> None:
    if text:
        stream.write(text)
        stream.flush()
