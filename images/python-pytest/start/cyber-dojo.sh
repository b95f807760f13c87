# Runs the tests. pytest exits 0 when all pass, 1 when a test fails, 2 or more otherwise.
python3 -m pytest -q
