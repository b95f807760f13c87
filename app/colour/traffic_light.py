"""The traffic light: a finished run's colour from its image's rag lambda, or a client's copy;
for an image with neither, a verdict its caller brings (an exercism run's results.json).

Nothing is evaluated here: the image's own lambda goes to this process's resident evaluator,
keyed by the image digest; a client's copy that differs from it goes to a one-shot evaluator of
its own, in the language of the image's lambda (Python when the image has none).
"""

from app.colour.evaluator.one_shot import OneShotEvaluator
from app.colour.evaluator.resident import ResidentEvaluator
from app.colour.evaluator.wire import Call
from app.colour.rag_cache import PY_PATH, RB_PATH, RagCache
from app.colour.rag_lambda import Language, Verdict
from app.externals import ids
from app.outcomes import Output


class TrafficLight:
    """Colours outputs.

    Args:
        cache: images' own lambdas by digest.
        resident: evaluates images' own lambdas.
        one_shot: evaluates clients' differing copies.
        limit_seconds: a lambda's time limit.
    """

    def __init__(
        self,
        cache: RagCache,
        resident: ResidentEvaluator,
        one_shot: OneShotEvaluator,
        limit_seconds: float,
    ) -> None:
        self._cache = cache
        self._resident = resident
        self._one_shot = one_shot
        self._limit = limit_seconds

    def colour(
        self,
        digest: str,
        output: Output,
        rag_lambda: str | None = None,
        call_id: str = "",
        without_lambda: Verdict | None = None,
    ) -> Verdict:
        """red, amber or green, or faulty with a log saying why.

        Args:
            digest: the image's content-addressed id.
            output: the run's cleaned, truncated output and its exit status.
            rag_lambda: a copy of the lambda sent by the client, if any.
            call_id: names the one-shot evaluator if a client's copy must be evaluated.
            without_lambda: the verdict when neither the image nor the client has a lambda
                (an exercism-interface run's, from its results.json); None: faulty.

        Raises:
            EngineUnavailable: the engine failed to start an evaluator or to read the image.
        """
        own = self._cache.lambda_for(digest)
        if rag_lambda is not None and (own is None or rag_lambda != own.source):
            language = own.language if own is not None else Language.PYTHON
            call = Call("client", language, rag_lambda, output, self._limit)
            return self._one_shot.colour(call_id or ids.token(16), call)
        if own is None and without_lambda is not None:
            return without_lambda
        if own is None:
            why = f"the image {digest} has no rag lambda at {PY_PATH} or {RB_PATH}"
            return Verdict.faulty(why, "")
        if own.problem:
            return Verdict.faulty(
                f"the rag lambda of image {digest} is unreadable: {own.problem}", ""
            )
        call = Call(digest, own.language, own.source, output, self._limit)
        return self._resident.colour(call)

    def remove(self, call_id: str) -> None:
        """Removes the one-shot evaluator of `call_id`, if one is left (a dead worker's)."""
        self._one_shot.remove(call_id)
