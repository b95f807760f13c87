"""The traffic light: a finished run's colour from its image's rag lambda, or a kata's own copy.

A copy byte-identical to the image's lambda is trusted and called in the worker from the cache;
any other copy is called in a sandbox of the image (`app.rag_sandbox`).
"""

from app.rag_cache import RAG_PATH, RagCache
from app.rag_lambda import Verdict
from app.rag_sandbox import SandboxedLambda


class TrafficLight:
    """Colours outputs.

    Args:
        cache: images' own lambdas by digest.
        sandboxed: calls untrusted lambdas.
        limit_seconds: a lambda's time limit.
    """

    def __init__(self, cache: RagCache, sandboxed: SandboxedLambda, limit_seconds: float) -> None:
        self._cache = cache
        self._sandboxed = sandboxed
        self._limit = limit_seconds

    def colour(
        self,
        digest: str,
        stdout: str,
        stderr: str,
        status: int,
        rag_lambda: str | None = None,
        call_id: str = "",
    ) -> Verdict:
        """red, amber or green, or faulty with a log saying why.

        Args:
            digest: the image's content-addressed id.
            stdout, stderr: the run's cleaned, truncated output.
            status: its exit status.
            rag_lambda: a copy of the lambda sent by the client, if any.
            call_id: names the sandbox container if an untrusted lambda must run.
        """
        own = self._cache.lambda_for(digest)
        if rag_lambda is None or (own is not None and rag_lambda == own.source):
            if own is None:
                why = f"the image {digest} has no rag lambda at {RAG_PATH}"
                return Verdict.faulty(why, "")
            return own.colour(stdout, stderr, status, self._limit)
        return self._sandboxed.colour(digest, rag_lambda, stdout, stderr, status, call_id)
