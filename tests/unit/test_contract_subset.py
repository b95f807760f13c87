"""The subset of JSON Schema that `web.conform.conform` checks: each rule fails naming the
field, and a value that keeps the rules comes back unchanged."""

import pytest

from app.errors import InvalidRequest
from web.conform import conform

CASES = {
    "type": "array",
    "maxItems": 2,
    "items": {
        "type": "object",
        "properties": {
            "seconds": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 5},
            "loud": {"type": "boolean"},
            "content": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "object", "properties": {"encoding": {"type": "string"}}},
                ]
            },
        },
        "additionalProperties": False,
    },
}


def rule_broken(value: object) -> str:
    with pytest.raises(InvalidRequest) as raised:
        conform(value, CASES, "cases")
    return str(raised.value)


def test_a_value_that_keeps_every_rule_comes_back_unchanged():
    value = [{"seconds": 0.5, "loud": True, "content": {"encoding": "base64"}}, {"content": "x"}]
    assert conform(value, CASES, "cases") is value


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ({}, "cases: must be a JSON array"),
        ([{}, {}, {}], "cases: at most 2 items"),
        ([{"seconds": 0}], "cases[0][seconds]: must be more than 0 and at most 5"),
        ([{}, {"seconds": 5.5}], "cases[1][seconds]: must be more than 0 and at most 5"),
        ([{"seconds": "1"}], "cases[0][seconds]: must be a number"),
        ([{"seconds": float("nan")}], "cases[0][seconds]: must be a number"),
        ([{"seconds": True}], "cases[0][seconds]: must be a number"),
        ([{"loud": 1}], "cases[0][loud]: must be true or false"),
        ([{"content": 3}], "cases[0][content]: must be a string or a JSON object"),
        ([{"content": {"encoding": 3}}], "cases[0][content][encoding]: must be a string"),
    ],
)
def test_each_broken_rule_names_its_field(value, said):
    assert said in rule_broken(value)
