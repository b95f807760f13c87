"""The request schemas: JSON Schema, one source for both validating requests and describing
them in /openapi.json. web/conform.py checks the subset of JSON Schema used here and names the
field that breaks a rule; checks no schema can say (the allowlist, file names) follow in code."""

from typing import Any

from app.config import Settings
from app.images.tracks import SLUG
from app.katas.records import KATA_ID
from app.sandbox.cases import ARG_MAX_BYTES, ARGS_MAX
from app.sandbox.limits import CPUS_LEAST

VERSION = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"  # a Docker tag
EXERCISE = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # an exercism slug, e.g. two-fer
RAG_LAMBDA_MAX_CHARS = 65536
# cyber-dojo's id, for tracing only: its web service sends `<kata id>-<light index>`.
CYBER_DOJO_ID = {"type": "string", "minLength": 1, "maxLength": 128}
GIT_REFERENCE = r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}$"  # never an option: no leading '-'
INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
BASE64 = {"type": "string", "format": "byte", "description": "RFC 4648 base64, padded"}
ENCODING = {"type": "string", "enum": ["base64"]}


def request_schemas(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every request body's schema, by name, with this deployment's limits."""
    image = {"type": "string", "minLength": 1, "description": "an allowlisted image"}
    rag_lambda = {"type": "string", "maxLength": RAG_LAMBDA_MAX_CHARS}
    encoded = _object({"content": BASE64, "encoding": ENCODING}, ["content", "encoding"])
    sent_file = {"oneOf": [{"type": "string"}, encoded]}  # text, or any bytes in base64
    files = {
        "type": "object",
        "maxProperties": settings.files_max_count,
        "additionalProperties": {"type": "string"},
        "description": "relative names to text; must hold cyber-dojo.sh",
    }
    return {
        "RunRequest": _object(
            {
                "image": image,
                "track": {"type": "string", "pattern": SLUG.pattern},
                "version": {"type": "string", "pattern": VERSION},
                "files": {
                    "type": "object",
                    "maxProperties": settings.files_max_count,
                    "additionalProperties": sent_file,
                    "description": "relative names to text, or to {content, encoding: base64} for "
                    f"any bytes (the decoded bytes count towards {settings.files_max_kib} KiB); "
                    "must hold cyber-dojo.sh, except with exercise, when it must not",
                },
                "max_seconds": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": settings.max_seconds_limit,
                },
                "rag_lambda": rag_lambda,
                "kata": {"type": "string", "pattern": KATA_ID.pattern},
                "stdin": {
                    "type": "string",
                    "description": "what cyber-dojo.sh reads on its standard input (without "
                    f"it, nothing: /dev/null); at most {settings.files_max_kib} KiB as UTF-8",
                },
                "cases": _cases(settings),
                "compare": {
                    "type": "string",
                    "enum": ["exact", "trimmed"],
                    "description": "how a case's stdout is held to its expected_stdout: exact "
                    "(the default), or trimmed (trailing spaces, tabs and carriage returns of "
                    "each line, and trailing newlines, ignored)",
                },
                "exercise": {
                    "type": "string",
                    "pattern": EXERCISE,
                    "description": "the exercise's slug, for an image that follows exercism's "
                    "test-runner interface (label greenbar.interface=exercism); no default",
                },
                **limit_properties(settings),
                "junit_xml": {
                    "type": "string",
                    "minLength": 1,
                    "description": "where the run leaves a JUnit XML report, relative to "
                    "/sandbox (named as a file is); its tests go in the result's tests. Wins "
                    "over the image's label greenbar.junit_xml",
                },
                "return_binary": {
                    "type": "boolean",
                    "description": "binary files the run changed or created come back too, as "
                    "{content, encoding: base64, truncated} (default false: text files only)",
                },
            },
            ["files"],
        ),
        "ColourRequest": _object(
            {
                "image": image,
                "stdout": {"type": "string"},
                "stderr": {"type": "string"},
                "status": INT32,
                "rag_lambda": rag_lambda,
            },
            ["image", "stdout", "stderr", "status"],
        ),
        "ImageRequest": _object({"image": image}, ["image"]),
        # cyber-dojo's runner API (web/cyber_dojo.py): its bodies, as its web service sends them.
        "CyberDojoRun": _object(
            {
                "id": CYBER_DOJO_ID,
                "files": files,
                "manifest": {
                    "type": "object",
                    "properties": {
                        "image_name": image,
                        # no maximum: above greenbar's limit it is cut to it, as cyber-dojo cuts
                        "max_seconds": {"type": "integer", "minimum": 1},
                        "rag_lambda": rag_lambda,
                    },
                    "required": ["image_name"],
                    # a start point's manifest holds more (display_name, tab_size...): ignored
                    "additionalProperties": True,
                },
            },
            ["id", "files", "manifest"],
        ),
        "CyberDojoPull": _object({"id": CYBER_DOJO_ID, "image_name": image}, ["id", "image_name"]),
        "BuildRequest": _object(
            {
                "track": {"type": "string", "pattern": SLUG.pattern},
                "git_reference": {
                    "type": "string",
                    "pattern": GIT_REFERENCE,
                    "description": "a branch, a tag or a commit sha of the track's repository",
                },
            },
            ["track", "git_reference"],
        ),
    }


def _cases(settings: Settings) -> dict[str, Any]:
    """A run's test cases (app/sandbox/cases.py): build.sh once, cyber-dojo.sh once per case."""
    case = _object(
        {
            "stdin": {"type": "string", "description": "what this case reads (else /dev/null)"},
            "args": {
                "type": "array",
                "maxItems": ARGS_MAX,
                "items": {"type": "string"},
                "description": f"cyber-dojo.sh's arguments, $1 on (each at most "
                f"{ARG_MAX_BYTES} bytes, no NUL)",
            },
            "expected_stdout": {
                "type": "string",
                "description": "what it must print to pass (else it passes by exiting 0)",
            },
            "max_seconds": {
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": True,
                "maximum": settings.max_seconds_limit,
                "description": "its own wall-clock limit, at most the run's max_seconds "
                "(else a fair share: what is left of the run's time over the cases left)",
            },
        },
        [],
    )
    return {
        "type": "array",
        "minItems": 1,
        "maxItems": settings.cases_max,
        "items": case,
        "description": "test cases: build.sh (when the files hold one) runs once, then "
        "cyber-dojo.sh once per case, in one container, all within max_seconds; at most "
        f"{settings.files_max_kib} KiB of stdin, arguments and expected output in all",
    }


def limit_properties(settings: Settings) -> dict[str, dict[str, Any]]:
    """A run's own limits (app/sandbox/limits.py): each at most its image's, the default."""
    cap = "at most, and by default, its image's: GREENBAR_{} ({} here) or its profile's"
    return {
        "memory_mib": {
            "type": "integer",
            "description": "the run's memory, MiB; "
            + cap.format("MEMORY_MIB", settings.memory_mib)
            + "; more than the image's three tmpfs together",
        },
        "cpus": {
            "type": "number",
            "minimum": 0,
            "exclusiveMinimum": True,
            "description": f"the CPUs the run may use; at least {CPUS_LEAST:g} (or the "
            "image's, if less); " + cap.format("CPUS", f"{settings.cpus:g}"),
        },
        "output_limit_kib": {
            "type": "integer",
            "minimum": 1,
            "maximum": settings.output_limit_kib,
            "description": "KiB kept of stdout, of stderr and of each file brought back; at "
            "most, and by default, GREENBAR_OUTPUT_LIMIT_KIB",
        },
    }


def applied_schema() -> dict[str, Any]:
    """A result's `limits`: those its run had, its own within its image's caps."""
    return {
        **_object(
            {
                "max_seconds": {"type": "integer", "minimum": 1},
                "memory_mib": {"type": "integer", "minimum": 1},
                "cpus": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                "output_limit_kib": {"type": "integer", "minimum": 1},
            },
            ["max_seconds", "memory_mib", "cpus", "output_limit_kib"],
        ),
        "nullable": True,
        "description": "the limits the run had; null for a run refused before it was tried",
    }


def measured_properties() -> dict[str, dict[str, Any]]:
    """A result's OOM flag and what the supervisor measured (app/sandbox/result.py)."""
    measure = {"type": "integer", "minimum": 0, "nullable": True}
    return {
        "oom_killed": {
            "type": "boolean",
            "description": "the kernel killed a process of the run, or its sandbox, for memory;"
            " the outcome is still the rag lambda's",
        },
        "run_ms": {**measure, "description": "cyber-dojo.sh's own wall time, exec to exit"},
        "cpu_ms": {
            **measure,
            "description": "the container's CPU time, user + system; null"
            " when its cgroup cannot be read",
        },
        "memory_peak_kib": {
            **measure,
            "description": "the container's memory high-water"
            " mark; null when its cgroup cannot be read",
        },
    }


def case_properties() -> dict[str, dict[str, Any]]:
    """A run with cases: `built` and `cases` (app/sandbox/cases.py), absent from other runs."""
    measure = {"type": "integer", "minimum": 0, "nullable": True}
    text = _object({"content": {"type": "string"}, "truncated": {"type": "boolean"}}, [])
    case = _object(
        {
            "stdout": text,
            "stderr": text,
            "status": {**INT32, "nullable": True, "description": "null: it never started"},
            "timed_out": {"type": "boolean"},
            "oom_killed": {"type": "boolean"},
            "run_ms": {"type": "integer", "minimum": 0},
            "cpu_ms": {**measure, "description": "the container's CPU time over the case"},
            "memory_peak_kib": {**measure, "description": "its largest process's peak RSS"},
            "passed": {"type": "boolean"},
        },
        ["stdout", "stderr", "status", "timed_out", "oom_killed", "run_ms", "passed"],
    )
    return {
        "built": {
            "type": "boolean",
            "description": "build.sh ran first: stdout, stderr and status are its",
        },
        "cases": {"type": "array", "items": case, "description": "each case's result, in order"},
    }


def file_properties() -> dict[str, dict[str, Any]]:
    """A result's changed and created files (app/sandbox/text.py): text, or base64 for a
    binary file when the request asked for them."""
    truncated = {"type": "boolean"}
    text = _object(
        {"content": {"type": "string"}, "truncated": truncated}, ["content", "truncated"]
    )
    binary = _object(
        {"content": BASE64, "encoding": ENCODING, "truncated": truncated},
        ["content", "encoding", "truncated"],
    )
    files = {
        "type": "object",
        "additionalProperties": {"oneOf": [text, binary]},
        "description": "by name; truncated: only the first GREENBAR_OUTPUT_LIMIT_KIB of the "
        "file (of its bytes, before base64) came back",
    }
    return {"created": files, "changed": files}


def result_schemas() -> dict[str, dict[str, Any]]:
    """The typed parts of a run's result that are not plain text: `tests`, an exercism
    run's results.json as app/colour/exercism.py reads it (its versions 1 to 3), or a JUnit
    report as app/colour/junit.py reads it."""
    status = {"type": "string", "enum": ["pass", "fail", "error"]}
    text = {"type": "string", "nullable": True}  # OpenAPI 3.0's way to say "or null"
    test = _object(
        {
            "name": {"type": "string"},
            "status": {
                **status,
                "enum": [*status["enum"], "skip"],
                "description": "skip: a JUnit report's skipped test (pytest's skip and xfail)",
            },
            "message": text,
            "output": text,
            "test_code": text,
            "task_id": {"type": "integer", "nullable": True, "description": "version 3 only"},
            "duration_ms": {
                "type": "integer",
                "minimum": 0,
                "nullable": True,
                "description": "a JUnit report's only: its time; null when it gives none",
            },
        },
        ["name", "status", "message", "output", "test_code", "task_id"],
    )
    return {
        "RunTests": _object(
            {
                "version": {
                    "type": "integer",
                    "enum": [1, 2, 3, None],
                    "nullable": True,
                    "description": "results.json's version; null for a JUnit report",
                },
                "status": status,
                "message": text,
                "tests": {"type": "array", "items": test, "description": "empty in version 1"},
                "junit_xml": {
                    "type": "string",
                    "description": "a JUnit report's only: its path, relative to /sandbox",
                },
            },
            ["version", "status", "message", "tests"],
        )
    }


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
