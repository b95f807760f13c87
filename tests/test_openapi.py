"""The API against its own description: /openapi.json, generated from the schemas that validate
requests, exercised by schemathesis on the real app, Redis and worker."""

import dataclasses
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from app.config import Settings
from web import create_app
from web.contract import request_schemas


@pytest.fixture(scope="module")
def described_app(settings: Settings, worker: Any) -> Any:
    # Short waits keep generated ?wait values from making the run slow; the rules are the same.
    return create_app(dataclasses.replace(settings, wait_max_seconds=2))


@pytest.fixture(scope="module")
def api_schema(described_app: Any) -> Any:
    return schemathesis.openapi.from_wsgi("/openapi.json", described_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis.settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
)
def test_no_generated_request_gets_a_5xx_or_an_undocumented_status(case: Any) -> None:
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance])


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
