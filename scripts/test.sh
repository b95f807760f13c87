#!/usr/bin/env bash
# Runs greenbar's checks and test suite on a Debian machine, as root: installs what is missing,
# registers gVisor's runsc with the engine (the suite runs sandboxes under it too), starts dockerd
# when it is not running and builds the bundled images; the tests start their own private Redis
# and Celery worker.
#
# Without arguments, cheapest first, stopping at the first failure: lint (ruff, mypy); the unit
# layer (tests/unit: no engine, no worker, seconds); then, with the engine up and the images
# built, the rest (tests/integration, tests/system, and tests/contract if there is one); then the
# hostile tests again under runsc. With arguments: lint, then pytest with those arguments.
# Usage: scripts/test.sh [pytest arguments]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_packages
ensure_venv

say "lint: ruff and mypy"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"

if [ $# -eq 0 ]; then
  say "the unit layer (no engine, no worker)"
  "$VENV/bin/pytest" tests/unit -m unit
fi

ensure_runsc  # before ensure_dockerd: a dockerd it starts reads the registration
ensure_dockerd
build_images

# pytest exits 5 when it collected no test: that is a failure here too.
[ $# -eq 0 ] || exec "$VENV/bin/pytest" "$@"
say "the integration and system layers"
rest=(tests/integration tests/system)
[ -d tests/contract ] && rest+=(tests/contract)
"$VENV/bin/pytest" "${rest[@]}"
say "the hostile tests again, every sandbox under gVisor (runsc)"
# Not the host_kernel ones: under gVisor a sandbox has a kernel of its own, with no host per-uid
# limit to share (see pyproject.toml's markers).
exec "$VENV/bin/pytest" --runtime runsc -m "not host_kernel" \
  tests/system/test_hostile.py tests/system/test_trust.py
