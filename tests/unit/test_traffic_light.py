"""The traffic light's decision, without a worker or an engine: which lambda colours a run (the
image's own or the client's copy), which evaluator runs it, and when the answer is `faulty`.

The rag cache is the real one over Redis, seeded as another worker's read of the image would
leave it; its engine answers nothing, so a test that reached it would fail. The evaluators are
stand-ins that run the tests' own Python lambdas in this process: pure logic, recorded.
"""

from typing import Any

import docker
import pytest

from app.colour.evaluator.wire import Call
from app.colour.rag_cache import PY_PATH, RB_PATH, RagCache
from app.colour.rag_lambda import Language, RagLambda, Verdict
from app.colour.traffic_light import TrafficLight
from app.errors import EngineUnavailable
from app.externals.clock import ManualClock
from app.externals.engine import Engine
from app.outcomes import COLOURS, Outcome, Output

DIGEST = "sha256:" + "d" * 64
LIMIT_SECONDS = 0.75
GREEN_ON_ZERO = (
    "def colour(stdout, stderr, status):\n    return 'green' if status == 0 else 'red'\n"
)
ALWAYS_AMBER = "def colour(stdout, stderr, status):\n    return 'amber'\n"
RAISES = "def colour(stdout, stderr, status):\n    return 1 / 0\n"
EXIT_0 = Output("", "", 0)  # no output, status 0


def evaluated(call: Call) -> Verdict:
    """What an evaluator answers for one of the tests' Python lambdas."""
    scope: dict[str, Any] = {}
    try:
        exec(call.source, scope)
        output = call.output
        answer = scope["colour"](output.stdout, output.stderr, output.status)
    except Exception as error:
        return Verdict.faulty(f"the rag lambda raised {error!r}", call.source)
    if answer not in COLOURS:
        return Verdict.faulty(f"the rag lambda answered {answer!r}, not a colour", call.source)
    return Verdict(Outcome(answer))


class Resident:
    """Stands in for the resident evaluator (the images' own lambdas)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def colour(self, call: Call) -> Verdict:
        self.calls.append(call)
        return evaluated(call)


class OneShot:
    """Stands in for the one-shot evaluator (clients' copies), one per call id."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Call]] = []
        self.removed: list[str] = []

    def colour(self, call_id: str, call: Call) -> Verdict:
        self.calls.append((call_id, call))
        return evaluated(call)

    def remove(self, call_id: str) -> None:
        self.removed.append(call_id)


@pytest.fixture
def unreachable_engine() -> Engine:
    """A real engine adapter on a socket nothing listens on (the version is given, so making
    it asks nothing): any read of an image fails with EngineUnavailable."""
    return Engine(docker.APIClient(base_url="unix:///nonexistent", version="1.41", timeout=1))


@pytest.fixture
def cache(store: Any, unreachable_engine: Engine) -> RagCache:
    return RagCache(store, unreachable_engine, ttl=60, missing_ttl=10, clock=ManualClock())


@pytest.fixture
def resident() -> Resident:
    return Resident()


@pytest.fixture
def one_shot() -> OneShot:
    return OneShot()


@pytest.fixture
def light(cache: RagCache, resident: Resident, one_shot: OneShot) -> TrafficLight:
    return TrafficLight(cache, resident, one_shot, LIMIT_SECONDS)  # type: ignore[arg-type]


def image_holds(store: Any, engine: Engine, found: RagLambda | None) -> None:
    """Caches the image's lambda as another worker's read of the image leaves it in Redis."""
    RagCache(store, engine, ttl=60, missing_ttl=10).store(DIGEST, found)


def test_the_images_own_lambda_is_evaluated_by_the_resident_evaluator_keyed_by_its_digest(
    light, store, unreachable_engine, resident, one_shot
):
    image_holds(store, unreachable_engine, RagLambda(Language.PYTHON, GREEN_ON_ZERO))
    assert light.colour(DIGEST, Output("1 passed", "", 0)) == Verdict(Outcome.GREEN)
    assert light.colour(DIGEST, Output("1 failed", "", 1)) == Verdict(Outcome.RED)
    first = resident.calls[0]
    assert (first.key, first.language, first.source) == (DIGEST, "python", GREEN_ON_ZERO)
    assert (first.output, first.limit) == (Output("1 passed", "", 0), LIMIT_SECONDS)
    assert one_shot.calls == []


def test_a_client_copy_equal_to_the_images_own_lambda_is_the_images_own(
    light, store, unreachable_engine, resident, one_shot
):
    image_holds(store, unreachable_engine, RagLambda(Language.PYTHON, GREEN_ON_ZERO))
    assert light.colour(DIGEST, EXIT_0, rag_lambda=GREEN_ON_ZERO) == Verdict(Outcome.GREEN)
    assert len(resident.calls) == 1
    assert one_shot.calls == []


def test_a_client_copy_that_differs_is_evaluated_alone_under_its_call_id(
    light, store, unreachable_engine, resident, one_shot
):
    image_holds(store, unreachable_engine, RagLambda(Language.PYTHON, GREEN_ON_ZERO))
    verdict = light.colour(DIGEST, EXIT_0, rag_lambda=ALWAYS_AMBER, call_id="call-7")
    assert verdict == Verdict(Outcome.AMBER)  # the client's rule, not the image's green
    assert resident.calls == []
    [(call_id, call)] = one_shot.calls
    assert call_id == "call-7"
    assert (call.key, call.source, call.limit) == ("client", ALWAYS_AMBER, LIMIT_SECONDS)


def test_a_client_copy_is_called_in_the_language_of_the_images_own_lambda(
    light, store, unreachable_engine, one_shot
):
    image_holds(store, unreachable_engine, RagLambda(Language.RUBY, "lambda { |o, e, s| :red }"))
    light.colour(DIGEST, EXIT_0, rag_lambda="lambda { |o, e, s| :green }", call_id="c")
    assert one_shot.calls[0][1].language == "ruby"


def test_a_client_copy_for_an_image_without_a_lambda_is_called_as_python(
    light, store, unreachable_engine, one_shot
):
    image_holds(store, unreachable_engine, None)
    assert light.colour(DIGEST, Output("", "", 3), rag_lambda=GREEN_ON_ZERO) == Verdict(Outcome.RED)
    [(call_id, call)] = one_shot.calls
    assert call.language == "python"
    assert call_id, "a one-shot evaluator is always named"


def test_without_a_call_id_each_client_copy_gets_an_evaluator_name_of_its_own(
    light, store, unreachable_engine, one_shot
):
    image_holds(store, unreachable_engine, None)
    light.colour(DIGEST, EXIT_0, rag_lambda=ALWAYS_AMBER)
    light.colour(DIGEST, EXIT_0, rag_lambda=ALWAYS_AMBER)
    first, second = (call_id for call_id, _ in one_shot.calls)
    assert first != second


def test_an_image_without_a_lambda_is_faulty_naming_the_image_and_both_paths(
    light, store, unreachable_engine, resident, one_shot
):
    image_holds(store, unreachable_engine, None)
    verdict = light.colour(DIGEST, EXIT_0)
    assert verdict.outcome == Outcome.FAULTY
    assert DIGEST in verdict.log and PY_PATH in verdict.log and RB_PATH in verdict.log
    assert resident.calls == [] and one_shot.calls == []


def test_an_unreadable_lambda_is_faulty_saying_why_and_nothing_is_evaluated(
    light, store, unreachable_engine, resident
):
    problem = f"{PY_PATH} is a directory"
    image_holds(store, unreachable_engine, RagLambda(Language.PYTHON, "", problem))
    verdict = light.colour(DIGEST, EXIT_0)
    assert verdict.outcome == Outcome.FAULTY
    assert "unreadable" in verdict.log and problem in verdict.log
    assert resident.calls == []


def test_a_lambda_that_fails_when_evaluated_is_faulty_with_the_evaluators_log(
    light, store, unreachable_engine
):
    image_holds(store, unreachable_engine, RagLambda(Language.PYTHON, RAISES))
    verdict = light.colour(DIGEST, EXIT_0)
    assert verdict.outcome == Outcome.FAULTY
    assert "ZeroDivisionError" in verdict.log and RAISES in verdict.log


def test_a_lambda_cached_by_no_one_is_read_from_the_image_through_the_engine(light):
    with pytest.raises(EngineUnavailable):
        light.colour(DIGEST, EXIT_0)


def test_removing_a_call_removes_its_one_shot_evaluator(light, one_shot):
    light.remove("call-9")
    assert one_shot.removed == ["call-9"]
