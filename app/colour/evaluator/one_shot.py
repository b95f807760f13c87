"""A fresh evaluator per call, for a client's copy of a lambda that differs from its image's.

That copy is untrusted code and an untrusted rule: in the resident evaluator it could tamper
with the images' lambdas compiled there (one process, one uid). So it gets a container of its
own, with the same hardening, named after its job and removed after the call.
"""

from collections.abc import Callable

from app.colour.evaluator import container
from app.colour.evaluator.channel import Broken
from app.colour.evaluator.wire import Call, Reply
from app.colour.rag_lambda import Verdict
from app.config import Settings
from app.errors import ImageMissing
from app.externals import clock
from app.externals.engine import Engine


def container_name(call_id: str) -> str:
    """A one-shot evaluator's name: one per job, so a dead worker's is found by the job's id."""
    return container.PREFIX + call_id


class OneShotEvaluator:
    """Evaluates each call in a container of its own.

    Args:
        engine: this node's engine.
        settings: names the node and deployment in the container's labels.
        clock: monotonic seconds.
    """

    def __init__(
        self, engine: Engine, settings: Settings, clock: Callable[[], float] = clock.monotonic
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock

    def colour(self, call_id: str, call: Call) -> Verdict:
        """The lambda's verdict, from a container named after `call_id` (a job id).

        Raises:
            EngineUnavailable: the engine failed to start the evaluator.
        """
        name = container_name(call_id)
        labelled = container.labels(self._settings, run=call_id)
        try:
            channel = container.opened(
                self._engine, name, labelled, self._clock, self._settings.evaluator_image
            )
        except ImageMissing:
            return container.missing_image(self._settings.node, self._settings.evaluator_image)
        try:
            reply = Reply.decode(
                channel.ask(call.encode(), container.deadline(call.limit, self._clock))
            )
            if reply.verdict is None:
                raise Broken("garbled", "it did not know the lambda it had just been sent")
            return reply.verdict
        except Broken as error:
            ended = container.how_it_ended(self._engine, name)
            return container.failure(error, call.limit, call.source, ended)
        finally:
            channel.close()
            self.remove(call_id)

    def remove(self, call_id: str) -> None:
        """Removes the evaluator of `call_id`, if one is left (a dead worker's)."""
        self._engine.remove(container_name(call_id))
