# Targets people and CI both call.
.PHONY: up stop test test-unit test-integration test-system lint images bench bench-runtimes soak

up:
	bash scripts/stack.sh up

stop:
	bash scripts/stack.sh stop

test:
	bash scripts/test.sh

# The layers one at a time (scripts/test.sh sets up the machine and runs them all). The unit
# layer needs no Docker engine and no worker; the others need the engine and the images.
# The unit layer needs none of the property-testing plugins: not loading them saves a second.
test-unit:
	.venv/bin/pytest tests/unit -q -m unit -p no:schemathesis -p no:hypothesispytest -p no:anyio

test-integration:
	.venv/bin/pytest tests/integration -q -m integration

test-system:
	.venv/bin/pytest tests/system -q -m system

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

images:
	.venv/bin/python images/build.py

bench:
	.venv/bin/python bench/run_latency.py

bench-runtimes:
	.venv/bin/python bench/runtimes.py

soak:
	.venv/bin/python bench/soak.py
