#!/usr/bin/env bash
set -e

# cyber-dojo's standard header. Every text file /sandbox holds after the run is returned,
# so pytest's caches are deleted on the way out, whatever the tests did.
source ~/cyber_dojo_fs_cleaners.sh
function cyber_dojo_exit()
{
  cyber_dojo_delete_dirs .pytest_cache __pycache__
}
trap cyber_dojo_exit EXIT SIGTERM

# pytest exits 0 when all pass, 1 when a test fails, 2 or more otherwise.
cd "${CYBER_DOJO_SANDBOX}"
python3 -m pytest -q
