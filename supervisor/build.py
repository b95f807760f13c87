"""Builds greenbar's sandbox supervisor, a static binary, from the C sources beside this file.

Usage::

    .venv/bin/python supervisor/build.py      # writes build/greenbar-supervisor

The binary is rebuilt only when a source changed: its sha256 of the sources is kept in
`build/greenbar-supervisor.sources`. Needs gcc and a static C library (Debian's gcc and
libc6-dev; scripts/lib.sh installs them).
"""

import hashlib
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "build" / "greenbar-supervisor"
FLAGS = ["-static", "-O2", "-D_GNU_SOURCE", "-std=gnu11", "-Wall", "-Wextra", "-Werror"]


def sources_hash() -> str:
    digest = hashlib.sha256()
    for path in [*sorted(HERE.glob("*.[ch]")), Path(__file__)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build() -> Path:
    """Compiles the supervisor unless it is up to date; returns its path."""
    stamp = OUTPUT.with_suffix(".sources")
    wanted = sources_hash()
    if OUTPUT.exists() and stamp.exists() and stamp.read_text() == wanted:
        return OUTPUT
    OUTPUT.parent.mkdir(exist_ok=True)
    partial = OUTPUT.with_suffix(".partial")
    sources = [str(p) for p in sorted(HERE.glob("*.c"))]
    subprocess.run(["gcc", *FLAGS, "-o", str(partial), *sources], check=True)
    partial.replace(OUTPUT)
    stamp.write_text(wanted)
    return OUTPUT


if __name__ == "__main__":
    try:
        print(f"supervisor: {build()}")
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(f"supervisor build failed: {error}")
