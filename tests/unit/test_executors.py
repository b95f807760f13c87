"""Carrying out recorded jobs (app/jobs/executors.py) over a MemoryEngine and a private Redis:
every decision between a run's record and its result, in seconds, with no Docker or Celery.
The traffic light is told its answer (its own evaluators are tested on real containers)."""

from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from app.cluster.metrics import Metrics
from app.colour.rag_cache import RagCache
from app.colour.rag_lambda import Verdict
from app.colour.traffic_light import TrafficLight
from app.externals import ids
from app.externals.clock import ManualClock
from app.externals.memory_engine import Program
from app.jobs.executors import ColourExecutor, KataSupport, RunExecutor
from app.jobs.records import COLOURS, RUNS, JobStore, State
from app.jobs.requests import ColourRequest, RunRequest
from app.katas.records import KataStore
from app.katas.volumes import KataVolumes
from app.outcomes import Outcome, Output
from app.sandbox.cases import Case
from app.sandbox.exercism import Interfaces
from tests.contract.conftest import (  # noqa: F401
    IMAGE,
    RunPath,
    fixture_private_redis,
    fixture_run_path,
)
from tests.contract.programs import supervisor_result

FILES = {"cyber-dojo.sh": "echo hi; exit 1"}


@dataclass
class ToldLight:
    """A traffic light told its verdict; it records what it was asked."""

    verdict: Verdict
    asked: list[tuple[str, Output, str | None]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def colour(
        self,
        digest: str,
        output: Output,
        rag_lambda: str | None = None,
        _: str = "",
        without_lambda: Verdict | None = None,
    ) -> Verdict:
        self.asked.append((digest, output, rag_lambda))
        return self.verdict

    def remove(self, call_id: str) -> None:
        self.removed.append(call_id)


@dataclass
class Node:
    run_path: RunPath
    light: ToldLight
    store: JobStore[RunRequest]
    metrics: Metrics
    pulls: list[str]

    def executor(self, pulls_enabled: bool = True, light: Any = None) -> RunExecutor:
        settings, client = self.run_path.settings, self.run_path.client
        katas = KataStore(client, 3600)
        volumes = KataVolumes(self.run_path.engine, settings, self.run_path.uids)
        return RunExecutor(
            self.store,
            settings.node,
            self.metrics,
            self.run_path.runner(ManualClock()),
            light or self.light,
            KataSupport(katas, volumes, 1024, 60),
            Interfaces(self.run_path.engine),
            self.pulls.append if pulls_enabled else None,
            ManualClock(),
        )


@pytest.fixture
def node(run_path: RunPath) -> Node:
    store = JobStore(run_path.client, 600, RUNS)
    light = ToldLight(Verdict(Outcome.RED, "the rule said red"))
    return Node(run_path, light, store, Metrics(run_path.client), [])


def _queued(node: Node, request: RunRequest) -> str:
    run_id = ids.token()  # the Redis outlives the test: an id of its own
    node.store.enqueue(run_id, request)
    return run_id


def test_a_run_that_ends_is_coloured_by_the_rule_and_recorded_with_its_verdict(node: Node) -> None:
    digest = node.run_path.engine.add_image(
        IMAGE, program=Program(stdout=supervisor_result(1, b"1 failed\n", b"E\n"))
    )
    run_id = _queued(node, RunRequest(IMAGE, FILES, 10, rag_lambda="mine", track="py"))
    summary = node.executor().execute(run_id, "w1@unit")
    assert (summary.state, summary.outcome) == (State.DONE, Outcome.RED)
    assert node.light.asked == [(digest, Output("1 failed\n", "E\n", 1), "mine")]
    result = node.store.get(run_id).result
    assert result is not None
    assert (result["outcome"], result["worker"], result["track"]) == ("red", "w1@unit", "py")
    assert "the rule said red" in result["log"] and "version" not in result
    counted = node.metrics.read()
    assert any(name.startswith("runs_total") and "red" in name for name in counted), counted


def test_a_run_whose_image_is_missing_is_pulling_and_asks_its_node_to_pull(node: Node) -> None:
    run_id = _queued(node, RunRequest("greenbar/elsewhere", FILES))
    summary = node.executor().execute(run_id)
    assert summary.outcome == Outcome.PULLING and node.pulls == ["greenbar/elsewhere"]
    assert node.light.asked == []  # nothing ran: no colour


def test_with_pulls_disabled_a_missing_image_is_faulty_and_says_why(node: Node) -> None:
    run_id = _queued(node, RunRequest("greenbar/elsewhere", FILES))
    node.executor(pulls_enabled=False).execute(run_id)
    result = node.store.get(run_id).result or {}
    assert result["outcome"] == "faulty" and "pulls are disabled" in result["log"]


def test_a_run_that_timed_out_is_not_coloured(node: Node) -> None:
    node.run_path.engine.add_image(
        IMAGE, program=Program(stdout=supervisor_result(137, b"slow", timed_out=True))
    )
    summary = node.executor().execute(_queued(node, RunRequest(IMAGE, FILES, 3)))
    assert summary.outcome == Outcome.TIMED_OUT and node.light.asked == []


def test_an_engine_that_fails_ends_the_run_in_error_never_running(node: Node) -> None:
    node.run_path.engine.add_image(IMAGE, program=Program(stdout=supervisor_result(0)))
    node.run_path.engine.down = True
    run_id = _queued(node, RunRequest(IMAGE, FILES))
    summary = node.executor().execute(run_id)
    view = node.store.get(run_id)
    assert summary.state == State.ERROR and view.state == State.ERROR and view.error


def test_a_redelivered_run_is_never_run_twice(node: Node) -> None:
    node.run_path.engine.add_image(IMAGE, program=Program(stdout=supervisor_result(0)))
    run_id = _queued(node, RunRequest(IMAGE, FILES))
    assert node.store.start(run_id, "unit-node", "the-first@unit")  # then it died
    summary = node.executor().execute(run_id, "the-second@unit")
    view = node.store.get(run_id)
    assert summary.state == State.ERROR and "not run twice" in (view.error or "")
    assert node.light.removed == [run_id] and node.light.asked == []


def test_a_job_whose_request_is_gone_is_left_alone(node: Node) -> None:
    assert node.executor().execute("never-queued").state == "gone"


def test_a_colour_of_a_missing_image_is_faulty_and_of_a_held_one_the_rule_s(
    run_path: RunPath,
) -> None:
    store: JobStore[ColourRequest] = JobStore(run_path.client, 600, COLOURS)
    light = ToldLight(Verdict(Outcome.GREEN))
    colours = ColourExecutor(
        store,
        "unit-node",
        Metrics(run_path.client),
        run_path.engine,
        light,
        ManualClock(),  # type: ignore[arg-type]
    )
    missing, held = ids.token(), ids.token()
    store.enqueue(missing, ColourRequest(IMAGE, "out", "err", 0))
    assert colours.execute(missing).outcome == Outcome.FAULTY
    digest = run_path.engine.add_image(IMAGE)
    store.enqueue(held, ColourRequest(IMAGE, "out", "err", 0, rag_lambda="copy"))
    assert colours.execute(held, "w@unit").outcome == Outcome.GREEN
    assert light.asked == [(digest, Output("out", "err", 0), "copy")]
    result: dict[str, Any] = store.get(held).result or {}
    assert (result["digest"], result["worker"], result["node"]) == (digest, "w@unit", "unit-node")


def test_results_keep_the_wire_form_clients_read(node: Node) -> None:
    node.run_path.engine.add_image(IMAGE, program=Program(stdout=supervisor_result(0, b"ok\n")))
    run_id = _queued(node, RunRequest(IMAGE, FILES))
    node.executor().execute(run_id)
    raw = redis.Redis.from_url(node.run_path.settings.redis_url).hget(
        f"greenbar:run:{run_id}", "result"
    )
    assert raw is not None and b'"stdout": {"content": "ok\\n", "truncated": false}' in raw


def test_a_runs_own_limits_reach_the_runner_and_its_recorded_result(node: Node) -> None:
    node.run_path.engine.add_image(IMAGE, program=Program(stdout=supervisor_result(0, b"ok\n")))
    asked = RunRequest(IMAGE, FILES, 4, memory_mib=200, cpus=0.25, output_limit_kib=3)
    run_id = _queued(node, asked)
    node.executor().execute(run_id)
    result = node.store.get(run_id).result or {}
    assert result["limits"] == {
        "max_seconds": 4,
        "memory_mib": 200,
        "cpus": 0.25,
        "output_limit_kib": 3,
    }
    assert b"out_cap=3073\n" in node.run_path.engine.received(f"greenbar-run-{run_id}")


# Images following exercism's test-runner interface: the run goes through a cyber-dojo.sh
# greenbar writes, results.json comes back as a created file, and the real traffic light
# colours it from there when the image has no rag lambda.

EXERCISM_LABELS = {"greenbar.interface": "exercism"}
SOLUTION = {"hiker.py": "def answer():\n    return 6 * 9\n"}
V3_FAIL = (
    b'{"version": 3, "status": "fail", "tests": '
    b'[{"name": "answer", "status": "fail", "message": "54 != 42"}]}'
)


class Resident:
    """The resident evaluator, told its answer: an image's own lambda says amber."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def colour(self, call: Any) -> Verdict:
        self.asked.append(call.source)
        return Verdict(Outcome.AMBER)


def _real_light(node: Node, resident: Resident | None = None) -> TrafficLight:
    cache = RagCache(node.run_path.client, node.run_path.engine, 60, 10, ManualClock())
    return TrafficLight(cache, resident or Resident(), None, 1.0)  # type: ignore[arg-type]


def _exercism_image(node: Node, results: bytes | None, **image: Any) -> None:
    created = {".greenbar-exercism/results.json": results} if results is not None else {}
    node.run_path.engine.add_image(
        IMAGE,
        labels=EXERCISM_LABELS,
        program=Program(stdout=supervisor_result(0, created=created)),
        **image,
    )


def _exercism_run(node: Node, light: TrafficLight, **request: Any) -> dict[str, Any]:
    run_id = _queued(node, RunRequest(IMAGE, SOLUTION, **request))
    node.executor(light=light).execute(run_id)
    return node.store.get(run_id).result or {}


@pytest.mark.parametrize(
    ("status", "colour"), [("pass", "green"), ("fail", "red"), ("error", "amber")]
)
def test_an_exercism_image_without_a_rag_lambda_is_coloured_by_its_results_json(
    node: Node, status: str, colour: str
) -> None:
    results = f'{{"version": 3, "status": "{status}", "message": "m", "tests": []}}'
    _exercism_image(node, results.encode())
    result = _exercism_run(node, _real_light(node), exercise="hiker")
    assert result["outcome"] == colour, result["log"]
    assert result["tests"]["status"] == status


def test_an_exercism_run_sends_a_cyber_dojo_sh_calling_run_sh_and_carries_the_parsed_tests(
    node: Node,
) -> None:
    _exercism_image(node, V3_FAIL)
    run_id = _queued(node, RunRequest(IMAGE, SOLUTION, exercise="two-fer"))
    node.executor(light=_real_light(node)).execute(run_id)
    result = node.store.get(run_id).result or {}
    assert result["outcome"] == "red"
    [test] = result["tests"]["tests"]
    assert (test["name"], test["message"], test["task_id"]) == ("answer", "54 != 42", None)
    sent = node.run_path.engine.received(f"greenbar-run-{run_id}")
    assert b"exec /opt/test-runner/bin/run.sh two-fer /sandbox/ /sandbox/.greenbar-exercism/" in (
        sent
    )
    assert b"def answer():" in sent


@pytest.mark.parametrize(
    ("results", "said"),
    [
        (None, "run.sh wrote no .greenbar-exercism/results.json; it exited with 0"),
        (b'{"version": 3, "status": "pass"', "results.json is not JSON"),
        (b'{"version": 3, "status": "green", "tests": []}', "status must be pass, fail or error"),
    ],
)
def test_an_exercism_run_without_a_readable_results_json_is_faulty_saying_why(
    node: Node, results: bytes | None, said: str
) -> None:
    _exercism_image(node, results)
    result = _exercism_run(node, _real_light(node), exercise="hiker")
    assert result["outcome"] == "faulty" and said in result["log"], result["log"]
    assert "tests" not in result


def test_an_exercism_image_with_a_rag_lambda_is_coloured_by_the_lambda_not_results_json(
    node: Node,
) -> None:
    lambda_source = b"def colour(stdout, stderr, status):\n    return 'amber'\n"
    _exercism_image(node, V3_FAIL, files={"/usr/local/bin/red_amber_green.py": lambda_source})
    resident = Resident()
    result = _exercism_run(node, _real_light(node, resident), exercise="hiker")
    assert result["outcome"] == "amber" and resident.asked == [lambda_source.decode()]
    assert result["tests"]["status"] == "fail", "the tests are still read and carried"


def test_an_exercise_for_a_cyber_dojo_image_or_none_for_an_exercism_image_is_faulty_unrun(
    node: Node,
) -> None:
    node.run_path.engine.add_image(IMAGE, program=Program(stdout=supervisor_result(0)))
    result = _exercism_run(node, _real_light(node), exercise="hiker")
    assert result["outcome"] == "faulty" and "does not follow exercism's" in result["log"]
    _exercism_image(node, V3_FAIL)
    run_id = _queued(node, RunRequest(IMAGE, FILES))
    node.executor(light=_real_light(node)).execute(run_id)
    result = node.store.get(run_id).result or {}
    assert result["outcome"] == "faulty" and "names its `exercise`" in result["log"]
    assert node.run_path.engine.received(f"greenbar-run-{run_id}") == b"", "nothing ran"


def test_an_exercise_run_of_an_image_not_on_the_node_is_pulling(node: Node) -> None:
    run_id = _queued(node, RunRequest("greenbar/elsewhere", SOLUTION, exercise="hiker"))
    assert node.executor().execute(run_id).outcome == Outcome.PULLING


def test_a_run_with_cases_is_coloured_by_them_not_by_the_image_s_rule(node: Node) -> None:
    ran = {"status": 0, "timed_out": 0, "run_ms": 5, "oom_kills": 0, "started": 1}
    played = supervisor_result(
        0,
        b"building\n",
        built=True,
        cases=[(ran | {"index": 0}, b"ADA\n", b""), (ran | {"index": 1}, b"X", b"")],
    )
    node.run_path.engine.add_image(IMAGE, program=Program(stdout=played))
    cases = (Case(stdin="ada", expected_stdout="ADA\n"), Case(stdin="x", expected_stdout="X"))
    run_id = _queued(node, RunRequest(IMAGE, FILES, 10, cases=cases))
    summary = node.executor().execute(run_id)
    assert summary.outcome == Outcome.GREEN and node.light.asked == [], "the rule said red"
    result = node.store.get(run_id).result or {}
    assert [case["passed"] for case in result["cases"]] == [True, True]
    assert (result["built"], result["stdout"]["content"]) == (True, "building\n")
    assert "green: every case passed" in result["log"]


def test_a_run_with_cases_that_timed_out_still_says_which_cases_passed(node: Node) -> None:
    ran = {"status": 0, "timed_out": 0, "run_ms": 5, "oom_kills": 0, "started": 1}
    unstarted = ran | {"index": 1, "status": -1, "timed_out": 1, "started": 0}
    played = supervisor_result(
        0, timed_out=True, cases=[(ran | {"index": 0}, b"A", b""), (unstarted, b"", b"")]
    )
    node.run_path.engine.add_image(IMAGE, program=Program(stdout=played))
    run_id = _queued(node, RunRequest(IMAGE, FILES, 1, cases=(Case(expected_stdout="A"), Case())))
    assert node.executor().execute(run_id).outcome == Outcome.TIMED_OUT
    result = node.store.get(run_id).result or {}
    assert [(c["status"], c["passed"]) for c in result["cases"]] == [(0, True), (None, False)]
    assert "1 case(s) never started" in result["log"]
