"""GET /openapi.json: the API describing itself, its request bodies taken from web.contract,
the very schemas that validate requests."""

from typing import Any

from flask import Blueprint, Response, jsonify

from app.config import Settings
from app.outcomes import Outcome
from web.contract import (
    applied_schema,
    case_properties,
    file_properties,
    measured_properties,
    request_schemas,
    result_schemas,
)
from web.services import services

blueprint = Blueprint("openapi", __name__)

ERROR = {"$ref": "#/components/schemas/Error"}
JOB = {"$ref": "#/components/schemas/Job"}
ANY_OBJECT = {"type": "object"}
EXCEPTION = {"$ref": "#/components/schemas/CyberDojoException"}
DESCRIBED = {
    200: "done",
    202: "accepted: not finished yet",
    400: "malformed JSON or query parameter",
    401: "no valid bearer token",
    403: "an admin token is needed",
    404: "no such id",
    409: "a run of the same kata is queued or running: one at a time",
    413: "body over the size limit",
    415: "not application/json",
    422: "a field breaks a rule",
    503: "Redis, the queue or every worker unavailable, or too many runs waiting",
}


def _responses(codes: list[int], ok: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    return {
        str(code): {
            "description": DESCRIBED[code],
            "content": {"application/json": {"schema": ok if code < 300 else error}},
        }
        for code in codes
    }


def _operation(
    summary: str, codes: list[int], ok: dict[str, Any], error: dict[str, Any] = ERROR, **extra: Any
) -> dict[str, Any]:
    return {"summary": summary, "responses": _responses(codes, ok, error), **extra}


def _body(name: str, settings: Settings) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{name}"}
    media = {"schema": schema, "example": _example(name, settings)}
    return {"required": True, "content": {"application/json": media}}


def _example(name: str, settings: Settings) -> dict[str, Any]:
    """A request that this deployment accepts (its first allowlisted image)."""
    image = settings.images[0] if settings.images else "greenbar/busybox-sh"
    examples: dict[str, dict[str, Any]] = {
        "RunRequest": {"image": image, "files": {"cyber-dojo.sh": "echo PASSED"}},
        "ColourRequest": {"image": image, "stdout": "PASSED\n", "stderr": "", "status": 0},
        "ImageRequest": {"image": image},
        "CyberDojoRun": {
            "id": "34de2W-1",
            "files": {"cyber-dojo.sh": "echo PASSED"},
            "manifest": {"image_name": image, "max_seconds": 10},
        },
        "CyberDojoPull": {"id": "34de2W", "image_name": image},
        "BuildRequest": {"track": "python", "git_reference": "main"},
    }
    return examples[name]


def _wait(settings: Settings) -> dict[str, Any]:
    schema = {"type": "number", "minimum": 0, "maximum": settings.wait_max_seconds}
    return {"name": "wait", "in": "query", "required": False, "schema": schema}


def _path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _linked(operation: dict[str, Any], to: str, parameter: str) -> dict[str, Any]:
    """`operation` whose created answers (200, 202) link to `to`, given their id (a client,
    and schemathesis's stateful phase, follow it: create, then read)."""
    link = {to: {"operationId": to, "parameters": {parameter: "$response.body#/id"}}}
    for code in ("200", "202"):
        if code in operation["responses"]:
            operation["responses"][code]["links"] = link
    return operation


def _jobs(settings: Settings, kind: str, summary: str, body: str) -> dict[str, Any]:
    """POST /<kind>s and GET /<kind>s/{job_id}: runs and colours have the same shape."""
    posted = [200, 202, 400, 401, 413, 415, 422, 503] + ([409] if kind == "run" else [])
    post = _operation(
        summary, posted, JOB, requestBody=_body(body, settings), parameters=[_wait(settings)]
    )
    post = _linked(post, f"get_{kind}", "job_id")
    read = [200, 400, 401, 404, 503]
    get = _operation(
        f"A {kind}",
        read,
        JOB,
        parameters=[_wait(settings), _path_parameter("job_id")],
        operationId=f"get_{kind}",
    )
    return {f"/{kind}s": {"post": post}, f"/{kind}s/{{job_id}}": {"get": get}}


def _cyber_dojo(settings: Settings) -> dict[str, Any]:
    """cyber-dojo's runner API (web/cyber_dojo.py): answers keyed on the method's name, errors
    in its `exception` shape. Its web service also GETs them with the same body."""
    codes = [200, 400, 401, 413, 415, 422, 503]

    def keyed(name: str, answer: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "required": [name], "properties": {name: answer}}

    pulled = {"type": "string", "enum": ["pulled", "pulling"]}
    return {
        "/run_cyber_dojo_sh": {
            "post": _operation(
                "Run files as cyber-dojo's runner does, answering once the run has ended",
                codes,
                keyed("run_cyber_dojo_sh", {"$ref": "#/components/schemas/CyberDojoResult"}),
                EXCEPTION,
                requestBody=_body("CyberDojoRun", settings),
            )
        },
        "/pull_image": {
            "post": _operation(
                "Whether every node holds an image, as cyber-dojo's runner answers",
                codes,
                keyed("pull_image", pulled),
                EXCEPTION,
                requestBody=_body("CyberDojoPull", settings),
            )
        },
    }


def _paths(settings: Settings) -> dict[str, Any]:
    admin_post = [200, 202, 400, 401, 403, 413, 415, 422, 503]
    image = _body("ImageRequest", settings)
    return {
        **_jobs(settings, "run", "Run files", "RunRequest"),
        **_jobs(settings, "colour", "Colour outputs", "ColourRequest"),
        "/nodes": {"get": _operation("Live nodes", [200, 401, 503], ANY_OBJECT)},
        "/pulls": {
            "post": _linked(
                _operation("Pull onto every node", admin_post, ANY_OBJECT, requestBody=image),
                "get_pull",
                "pull_id",
            )
        },
        "/pulls/{pull_id}": {
            "get": _operation(
                "A pull",
                [200, 401, 403, 404, 503],
                ANY_OBJECT,
                parameters=[_path_parameter("pull_id")],
                operationId="get_pull",
            )
        },
        "/prunes": {"post": _operation("Prune every node now", [202, 401, 403, 503], ANY_OBJECT)},
        "/builds": {
            "post": _linked(
                _operation(
                    "Build a track's image from its repository",
                    [202, 400, 401, 403, 413, 415, 422, 503],
                    ANY_OBJECT,
                    requestBody=_body("BuildRequest", settings),
                ),
                "get_build",
                "build_id",
            )
        },
        "/builds/{build_id}": {
            "get": _operation(
                "A build",
                [200, 401, 403, 404, 503],
                ANY_OBJECT,
                parameters=[_path_parameter("build_id")],
                operationId="get_build",
            )
        },
        "/tracks": {"get": _operation("Tracks", [200, 401, 503], ANY_OBJECT)},
        "/tracks/{slug}": {
            "put": _operation(
                "Deploy a track's version",
                admin_post,
                ANY_OBJECT,
                requestBody=image,
                parameters=[_path_parameter("slug")],
            )
        },
        "/alive": {"get": _operation("The web process serves", [200], ANY_OBJECT)},
        "/ready": {"get": _operation("Redis, a worker and Docker answer", [200, 503], ANY_OBJECT)},
        "/sha": {"get": _operation("The commit served", [200], ANY_OBJECT)},
        **_cyber_dojo(settings),
    }


def _cyber_dojo_schemas() -> dict[str, Any]:
    """cyber-dojo's run_cyber_dojo_sh answer (app/jobs/cyber_dojo.py) and its errors."""
    text = {
        "type": "object",
        "required": ["content", "truncated"],
        "properties": {"content": {"type": "string"}, "truncated": {"type": "boolean"}},
    }
    files = {"type": "object", "additionalProperties": text}
    result = {
        "type": "object",
        "required": ["stdout", "stderr", "status", "outcome", "log", "created", "changed"],
        "properties": {
            "stdout": text,
            "stderr": text,
            "status": {"type": "string"},
            "outcome": {"type": "string", "enum": [o.value for o in Outcome]},
            "log": {"type": "object"},
            "created": files,
            "changed": files,
        },
    }
    exception = {
        "type": "object",
        "required": ["exception"],
        "properties": {
            "exception": {"type": "object", "required": ["path", "class", "message", "status"]}
        },
    }
    return {"CyberDojoResult": result, "CyberDojoException": exception}


def document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.0 description of the API for `settings`' limits."""
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["status", "message"]}},
    }
    job = {
        "type": "object",
        "required": ["id", "state"],
        "properties": {
            "id": {"type": "string"},
            "state": {"type": "string", "enum": ["queued", "running", "done", "error"]},
            "result": {
                "type": "object",
                "properties": {
                    "tests": {"$ref": "#/components/schemas/RunTests"},
                    "limits": applied_schema(),
                    **measured_properties(),
                    **case_properties(),
                    **file_properties(),
                },
            },
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "greenbar", "version": "1"},
        "paths": _paths(settings),
        "components": {
            "schemas": {
                **request_schemas(settings),
                **result_schemas(),
                "Error": error,
                "Job": job,
                **_cyber_dojo_schemas(),
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document(services().settings))
