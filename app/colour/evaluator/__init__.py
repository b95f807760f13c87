"""The host's side of greenbar's rag-lambda evaluator (images/evaluator): hardened containers
that colour outputs with rag lambdas, asked in JSON lines over a unix socket in the resident
evaluator's own volume, or the docker attach socket. No rag lambda runs in a worker, which holds
the Docker socket.

- `container`: the evaluator container's hardening and labels, and what its failures mean.
- `channel`: one attached container: a line out, one line back, against a deadline and a cap.
- `socket_channel`: the same over the resident evaluator's unix socket, the attach beside it.
- `wire`: a call and its reply in their wire form.
- `resident`: a worker process's long-lived evaluator, for images' own lambdas.
- `one_shot`: a fresh evaluator per call, for a client's copy that differs from its image's.
"""
