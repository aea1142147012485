"""Every GitHub response in the cassettes validates against GitHub's official OpenAPI description.

The description is `api.github.com.json.gz` of ../shared/reference/github/ (GitHub's `rest-api-description`),
so a hand-assembled body cannot drift from the real API's shapes.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
from functools import cache
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from tests.http_harness import CASSETTES, REPO

DESCRIPTION = REPO.parent / "shared" / "reference" / "github" / "api.github.com.json.gz"
# Statuses GitHub answers but does not document per operation (rate limits, gateway errors): their bodies
# follow `basic-error`, checked below against that schema instead.
UNDOCUMENTED = {401, 403, 429, 502}


@cache
def description() -> dict[str, Any]:
    with gzip.open(DESCRIPTION) as handle:
        return json.load(handle)


@cache
def templates() -> list[tuple[re.Pattern[str], str]]:
    compiled = []
    for template in description()["paths"]:
        pattern = re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
        compiled.append((re.compile("^" + re.sub(r"\{[^/}]+\}", r"[^/]+", pattern) + "$"), template))
    return compiled


def operation_for(method: str, path: str) -> dict[str, Any]:
    matches = [t for pattern, t in templates() if pattern.match(path) and method in description()["paths"][t]]
    assert matches, f"{method.upper()} {path} is not an operation of the GitHub API"
    literal = max(matches, key=lambda t: len(re.sub(r"\{[^}]+\}", "", t)))  # the most specific template
    return description()["paths"][literal][method]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = description()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def validate(schema: dict[str, Any], body: Any) -> None:
    OAS30Validator({"allOf": [schema], "components": components()}).validate(body)


@cache
def components() -> dict[str, Any]:
    """The description's components, with one OpenAPI 3.0 rule JSON Schema lacks: `nullable: true` admits
    null even beside an `enum` (GitHub answers `"state_reason": null` under such a schema)."""
    return _allow_null(copy.deepcopy(description()["components"]))


def _allow_null(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("nullable") and isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"].append(None)
        for value in node.values():
            _allow_null(value)
    elif isinstance(node, list):
        for value in node:
            _allow_null(value)
    return node


def interactions() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((CASSETTES / "github").glob("*.yaml")):
        for interaction in yaml.safe_load(path.read_text())["interactions"]:
            found.append(
                (
                    f"{path.stem}: {interaction['request']['method']} {interaction['request']['uri']}",
                    interaction,
                )
            )
    return found


def test_the_github_cassettes_are_there() -> None:
    assert len(interactions()) >= 20


@pytest.mark.parametrize(("name", "interaction"), interactions(), ids=[name for name, _ in interactions()])
def test_response_body_matches_the_openapi_description(name: str, interaction: dict[str, Any]) -> None:
    request, response = interaction["request"], interaction["response"]
    status = response["status"]["code"]
    body = json.loads(response["body"]["string"])
    operation = operation_for(request["method"].lower(), urlparse(request["uri"]).path)
    if status in UNDOCUMENTED and str(status) not in operation["responses"]:
        validate({"$ref": "#/components/schemas/basic-error"}, body)
        return
    documented = resolve(operation["responses"][str(status)])
    validate(documented["content"]["application/json"]["schema"], body)


def test_a_drifted_body_is_caught() -> None:
    operation = operation_for("post", "/repos/o/r/issues/1/comments")
    schema = resolve(operation["responses"]["201"])["content"]["application/json"]["schema"]
    with pytest.raises(Exception, match=r"required property|is not of type"):
        validate(schema, {"id": "not-a-number", "body": 3})
