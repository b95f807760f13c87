"""greenbar's domain, no Flask and no Celery: `externals` (the doors to Docker, Redis, the clock
and ids), `jobs` (requests, records, admission, routing, submitting, carrying out), `sandbox`
(one run in a hardened container), `colour` (the traffic light and its evaluators), `images`
(allowlist, tracks, pulls), `katas`, `cluster` (heartbeats, metrics, reaping, pruning); the
shared vocabulary in `outcomes`, `errors`, `config` and `logs`; and `wiring`, where each process
builds them. README.md's "The code on one screen" maps them."""
