# Targets people and CI both call.
.PHONY: up stop test lint images bench bench-runtimes soak

up:
	bash scripts/stack.sh up

stop:
	bash scripts/stack.sh stop

test:
	bash scripts/test.sh

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
