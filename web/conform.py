"""`conform`: a JSON value held to the subset of JSON Schema web/contract.py's schemas use,
naming the field that breaks a rule and the rule."""

import re
from typing import Any

from app.errors import InvalidRequest


def conform(value: Any, schema: dict[str, Any], field: str = "body") -> Any:
    """Returns `value` if it satisfies `schema`: the subset of JSON Schema used here (type
    object, array, string, integer, number, boolean; their bounds; an enum; oneOf of
    types).

    Raises:
        InvalidRequest: naming the field (`body`, a property, `files[NAME]`, `cases[0]`...)
            and the rule.
    """
    if "oneOf" in schema:
        return _conform_one_of(value, schema["oneOf"], field)
    kind = schema.get("type")
    if kind is not None and not _is(value, kind):
        raise InvalidRequest(field, f"must be {_ARTICLES[kind]}")
    if "enum" in schema and value not in schema["enum"]:
        raise InvalidRequest(field, f"must be one of {', '.join(map(str, schema['enum']))}")
    if kind == "object":
        _conform_object(value, schema, field)
    elif kind == "array":
        _conform_array(value, schema, field)
    elif kind == "string":
        _conform_string(value, schema, field)
    elif kind in ("integer", "number"):
        _conform_number(value, schema, field)
    return value


def _conform_one_of(value: Any, choices: list[dict[str, Any]], field: str) -> Any:
    """The first choice whose type `value` has decides (the choices here differ by type)."""
    for choice in choices:
        if _is(value, choice["type"]):
            return conform(value, choice, field)
    said = " or ".join(_ARTICLES[choice["type"]] for choice in choices)
    raise InvalidRequest(field, f"must be {said}")


def _conform_number(value: float, schema: dict[str, Any], field: str) -> None:
    # OpenAPI 3.0's form: `exclusiveMinimum: true` makes `minimum` itself out of range.
    lowest, highest = schema.get("minimum"), schema.get("maximum")
    low_ok = (
        lowest is None or value > lowest or (value == lowest and not schema.get("exclusiveMinimum"))
    )
    high_ok = highest is None or value <= highest
    if low_ok and high_ok:
        return
    said = []
    if lowest is not None:
        said.append(
            f"more than {lowest}" if schema.get("exclusiveMinimum") else f"at least {lowest}"
        )
    if highest is not None:
        said.append(f"at most {highest}")
    raise InvalidRequest(field, f"must be {' and '.join(said)}")


def _conform_array(value: list[Any], schema: dict[str, Any], field: str) -> None:
    if len(value) < schema.get("minItems", 0):
        raise InvalidRequest(field, f"at least {schema['minItems']} items")
    if len(value) > schema.get("maxItems", len(value)):
        raise InvalidRequest(field, f"at most {schema['maxItems']} items")
    for index, item in enumerate(value):
        conform(item, schema.get("items", {}), f"{field}[{index}]")


_ARTICLES = {
    "object": "a JSON object",
    "array": "a JSON array",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        finite = isinstance(value, float) and value == value and abs(value) != float("inf")
        return finite or _is(value, "integer")
    types = {"object": dict, "array": list, "string": str, "boolean": bool}
    return isinstance(value, types[kind])


def _conform_object(value: dict[str, Any], schema: dict[str, Any], field: str) -> None:
    for name in schema.get("required", []):
        if name not in value:
            raise InvalidRequest(name if field == "body" else f"{field}[{name}]", "is required")
    if len(value) > schema.get("maxProperties", len(value)):
        raise InvalidRequest(field, f"at most {schema['maxProperties']} entries")
    known, extra = schema.get("properties", {}), schema.get("additionalProperties", True)
    for name, item in value.items():
        inner = name if field == "body" else f"{field}[{name}]"
        if name in known:
            conform(item, known[name], inner)
        elif extra is False:
            raise InvalidRequest(inner, f"is not a known field (known: {', '.join(known)})")
        elif isinstance(extra, dict):
            conform(item, extra, inner)


def _conform_string(value: str, schema: dict[str, Any], field: str) -> None:
    if len(value) < schema.get("minLength", 0):
        raise InvalidRequest(field, "must not be empty")
    if len(value) > schema.get("maxLength", len(value)):
        raise InvalidRequest(field, f"at most {schema['maxLength']} characters")
    # fullmatch: with search, a pattern's `$` would also match before a trailing newline.
    if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
        raise InvalidRequest(field, f"must match {schema['pattern']}")
