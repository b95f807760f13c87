#!/bin/sh
# exercism's test-runner interface: run.sh SLUG INPUT_DIR/ OUTPUT_DIR/
# Writes OUTPUT_DIR/results.json and exits 0 whenever it could write it, whatever the tests say.
if [ "$#" -ne 3 ]; then
  echo "usage: run.sh SLUG INPUT_DIR/ OUTPUT_DIR/" >&2
  exit 2
fi
exec python3 /opt/test-runner/bin/results.py "$1" "$2" "$3"
