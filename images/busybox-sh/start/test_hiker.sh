# Tests for hiker.sh.
# Exit status: 0 when every test passes, 1 when a test fails,
# 2 when hiker.sh cannot be parsed or sourced.

if ! sh -n ./hiker.sh; then
  echo "ERROR: hiker.sh could not be parsed"
  exit 2
fi
if ! (. ./hiker.sh); then
  echo "ERROR: hiker.sh could not be sourced"
  exit 2
fi
. ./hiker.sh

assert_equals()
{
  if [ "$1" != "$2" ]; then
    echo "FAILED: expected $1, got $2"
    exit 1
  fi
}

assert_equals 42 "$(answer)"
echo "PASSED"
