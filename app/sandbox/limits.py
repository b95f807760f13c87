"""A run's own limits within the operator's caps: the memory, CPUs and output limit a request
may ask for (its max_seconds is held to GREENBAR_MAX_SECONDS_LIMIT by the request's schema).

A run's caps are its image's settings: the node's, with the image's profile applied
(`Settings.for_image`). A run asks for less, never more; what it does not ask for is its
image's."""

from dataclasses import dataclass, replace
from typing import TypedDict

from app.config import Settings
from app.config_rules import BOUNDS, shown
from app.errors import InvalidRequest

MEMORY_LEAST = BOUNDS["memory_mib"]
# Below a tenth of a CPU the sandbox's own start and report take seconds of the run's time
# (measured here: an echo took 3 s at 0.01 CPUs, 1 s at 0.05, 0.35 s at 0.1): a run would
# time out doing nothing of its own. An image capped lower may still be given its cap.
CPUS_LEAST = 0.1


@dataclass(frozen=True)
class RunLimits:
    """The limits a run asked for, each None when it asked for its image's own.

    Args:
        memory_mib: the container's memory, MiB (memory + swap the same: no swap).
        cpus: the CPUs the container may use, e.g. 0.5.
        output_limit_kib: KiB kept of stdout, of stderr and of each file brought back.
    """

    memory_mib: int | None = None
    cpus: float | None = None
    output_limit_kib: int | None = None

    def within(self, settings: Settings, image: str) -> "RunLimits":
        """These limits, if `image`'s `settings` allow them: each at most the image's own.

        Raises:
            InvalidRequest: naming the field and the bound it breaks, and why.
        """
        for name, (least, why) in _least(settings).items():
            value, cap = getattr(self, name), getattr(settings, name)
            if value is not None and value < least:
                raise InvalidRequest(name, f"at least {shown(least)}{f' ({why})' if why else ''}")
            if value is not None and value > cap:
                raise InvalidRequest(name, f"at most {shown(cap)} (the cap for image {image})")
        return self

    def apply(self, settings: Settings) -> Settings:
        """`settings` with these limits in place of its own, each held to its own as a cap
        (the web checked them against its settings; a worker configured lower still never
        gives more than its own); `settings` itself when none differs, so a run asking for
        its image's own limits may still take a warm container."""
        asked = {
            name: value
            for name, value in vars(self).items()
            if value is not None and value < getattr(settings, name)
        }
        return replace(settings, **asked) if asked else settings


def _least(settings: Settings) -> dict[str, tuple[int | float, str]]:
    """The least each limit may be for an image with `settings`, and why."""
    tmpfs = settings.sandbox_tmpfs_mib + settings.tmp_tmpfs_mib + settings.home_tmpfs_mib
    # As GREENBAR_MEMORY_MIB must: a full /sandbox must be a clean ENOSPC, not an OOM kill.
    memory = (tmpfs + 1, f"more than the {tmpfs} MiB of the image's three tmpfs, whose pages count")
    if memory[0] <= MEMORY_LEAST.lowest:
        memory = (int(MEMORY_LEAST.lowest), MEMORY_LEAST.why)
    cpus = min(CPUS_LEAST, settings.cpus)
    return {
        "memory_mib": memory,
        "cpus": (cpus, "below it the sandbox's own start takes seconds"),
        "output_limit_kib": (int(BOUNDS["output_limit_kib"].lowest), ""),
    }


def warm_fits(settings: Settings, node: Settings) -> bool:
    """Whether a warm container, made to the `node`'s settings, serves a run with `settings`:
    all but the output limit alike, since the output limit goes in the run's request."""
    if settings is node:
        return True
    ignored = {"output_limit_kib": 0}
    return {**vars(settings), **ignored} == {**vars(node), **ignored}


NONE_ASKED = RunLimits()  # a run that asked for its image's own limits


class Applied(TypedDict):
    """The limits a run had, as its result says them."""

    max_seconds: int
    memory_mib: int
    cpus: float
    output_limit_kib: int


def applied(settings: Settings, max_seconds: int) -> Applied:
    """The limits of a run with `settings` (its image's, with its own limits applied)."""
    return Applied(
        max_seconds=max_seconds,
        memory_mib=settings.memory_mib,
        cpus=settings.cpus,
        output_limit_kib=settings.output_limit_kib,
    )
