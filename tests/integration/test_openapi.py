"""The API against its own description: /openapi.json, generated from the schemas that validate
requests, exercised by schemathesis on the real app, Redis and worker: every operation with
valid data, again with invalid data (which must be refused with a 4xx), and statefully,
following the description's links from each created job to reading it."""

import dataclasses
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from app.config import Settings
from tests.helpers import DEPLOYMENT
from web import create_app
from web.contract import request_schemas


@pytest.fixture(scope="module")
def described_app(settings: Settings, worker: Any) -> Any:
    # Short waits keep generated ?wait values from making the run slow; the rules are the same.
    return create_app(dataclasses.replace(settings, wait_max_seconds=2))


@pytest.fixture(scope="module", autouse=True)
def generated_katas_go(docker_client: Any) -> Iterator[None]:
    """Generated runs may name a kata: their volumes and holders go with this module."""
    yield
    mine = f"greenbar.deployment={DEPLOYMENT}"
    for kind in ("kata-holder",):
        for found in docker_client.api.containers(
            all=True, filters={"label": [mine, f"greenbar.kind={kind}"]}
        ):
            docker_client.api.remove_container(found["Id"], force=True)
    for volume in (
        docker_client.api.volumes(filters={"label": [mine, "greenbar.kind=kata"]})["Volumes"] or []
    ):
        docker_client.api.remove_volume(volume["Name"], force=True)


@pytest.fixture(scope="module")
def api_schema(described_app: Any) -> Any:
    return schemathesis.openapi.from_wsgi("/openapi.json", described_app)


@pytest.fixture(scope="module")
def negative_schema(described_app: Any) -> Any:
    loaded = schemathesis.openapi.from_wsgi("/openapi.json", described_app)
    loaded.config.generation.update(modes=[GenerationMode.NEGATIVE])
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")
# Only operations that take a body: there is nothing to make invalid in the others.
negative = schemathesis.pytest.from_fixture("negative_schema").include(
    path_regex="^/(runs|colours|pulls|tracks/[^/]+)$", method=["POST", "PUT"]
)
EXAMPLES = hypothesis.settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
)


@pytest.mark.slow
@schema.parametrize()
@EXAMPLES
def test_no_generated_request_gets_a_5xx_or_an_undocumented_status(case: Any) -> None:
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance])


@pytest.mark.slow
@negative.parametrize()
@EXAMPLES
def test_every_invalid_request_is_refused_with_a_documented_4xx(case: Any) -> None:
    case.call_and_validate(
        checks=[not_a_server_error, status_code_conformance, negative_data_rejection]
    )


@pytest.mark.slow
def test_created_jobs_can_be_read_through_the_links_of_the_description(api_schema: Any) -> None:
    read: list[tuple[str, int]] = []

    jobs = api_schema.include(path_regex="^/(runs|colours)")  # the operations that link

    class Workflow(jobs.as_state_machine()):  # type: ignore[misc]
        # Not "every schema-valid request is accepted": the allowlist and the rule that files
        # hold cyber-dojo.sh are checked in code, as 422s naming the field, not in the schema.
        def validate_response(self, response: Any, case: Any, **_: Any) -> None:
            if case.method == "GET":
                read.append((case.operation.path, response.status_code))
            case.validate_response(response, checks=[not_a_server_error, status_code_conformance])

    machine = Workflow
    steps = hypothesis.settings(
        max_examples=30,
        stateful_step_count=5,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=True,
    )
    run_state_machine_as_test(machine, settings=steps)
    # Generated run requests rarely pass the checks no schema can say (cyber-dojo.sh, the
    # allowlist); colour requests do: at least one job went from created to read.
    linked = [path for path, status in read if path.endswith("{job_id}") and status == 200]
    assert linked, f"no created job was read through its link: {read}"


def test_the_description_uses_the_very_schemas_that_validate_requests(
    described_app: Any, settings: Settings
) -> None:
    served = described_app.test_client().get("/openapi.json").get_json()
    limits = dataclasses.replace(settings, wait_max_seconds=2)
    for name, validating in request_schemas(limits).items():
        assert served["components"]["schemas"][name] == validating
    assert served["paths"]["/runs"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/RunRequest"}
