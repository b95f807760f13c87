"""Every error greenbar raises on purpose, on one screen.

Docker and Redis exceptions are translated into these at their wrappers (`app.externals.engine`,
`app.externals.store`), once. Expected outcomes of a run (timed out, faulty) are values, not
exceptions.
"""


class GreenbarError(Exception):
    """Base of every error greenbar raises on purpose."""


class InvalidRequest(GreenbarError):
    """A client sent something greenbar refuses; names the field and the rule broken."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class InvalidParameter(InvalidRequest):
    """A query parameter is malformed or out of range."""


class ImageNotAllowed(InvalidRequest):
    """The image is not on the operator's allowlist."""


class Unauthorized(GreenbarError):
    """No valid credentials came with a request that needs them."""


class Forbidden(GreenbarError):
    """The credentials are valid but do not allow this."""


class Busy(GreenbarError):
    """Too many jobs are waiting already; try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KataBusy(GreenbarError):
    """A run of the kata is queued or running already: one run of a kata at a time."""


class UnknownJob(GreenbarError):
    """No job (run, colour, pull) with this id was ever created, or its record has expired."""

    def __init__(self, kind: str, job_id: str) -> None:
        super().__init__(
            f"no {kind} with id {job_id}: never queued here, expired, or lost with a Redis "
            "that kept no data across a restart"
        )
        self.kind = kind
        self.job_id = job_id


class ServiceUnavailable(GreenbarError):
    """A service greenbar needs (Redis, Docker, a worker) cannot be reached right now."""


class EngineUnavailable(ServiceUnavailable):
    """The node's Docker engine did not answer or failed mid-operation."""


class StoreUnavailable(ServiceUnavailable):
    """Redis did not answer."""


class ImageMissing(GreenbarError):
    """The image is not on this node's Docker engine."""


class PullFailed(GreenbarError):
    """The engine could not pull an image (unknown to its registry, registry unreachable…)."""


class BuildFailed(GreenbarError):
    """A track's image could not be built or pushed: its source, its Dockerfile, the engine or
    the registry refused."""


class ConfigError(GreenbarError):
    """An environment variable holds a value greenbar cannot use."""
