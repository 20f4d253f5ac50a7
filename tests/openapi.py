"""The Beacon API OpenAPI spec (tests/data/beacon-APIs, see ORIGIN.md there) as JSON Schemas for responses.

The spec spreads over many YAML files joined by relative $refs; `response_schema` inlines them."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SPEC_DIR = Path(__file__).resolve().parent / "data" / "beacon-APIs"
MAIN = SPEC_DIR / "beacon-node-oapi.yaml"


@cache
def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _pointer(document: Any, fragment: str) -> Any:
    node = document
    for part in [p for p in fragment.lstrip("/").split("/") if p]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _resolve(node: Any, base: Path, depth: int = 0) -> Any:
    if depth > 60:
        raise RecursionError("schema $refs nest too deeply")
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            file_part, _, fragment = ref.partition("#")
            target = (base.parent / file_part).resolve() if file_part else base
            resolved = _resolve(copy.deepcopy(_pointer(_load(target), fragment)), target, depth + 1)
            extra = {k: v for k, v in node.items() if k != "$ref"}
            if extra and isinstance(resolved, dict):
                return {**resolved, **_resolve(extra, base, depth + 1)}
            return resolved
        return {k: _resolve(v, base, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(item, base, depth + 1) for item in node]
    return node


@cache
def _operation(path: str, method: str) -> tuple[dict[str, Any], Path]:
    paths = _load(MAIN)["paths"]
    entry = paths[path]
    base = MAIN
    if "$ref" in entry:
        base = (MAIN.parent / entry["$ref"]).resolve()
        entry = _load(base)
    return entry[method.lower()], base


def response_schema(path: str, method: str, status: int, content_type: str = "application/json") -> dict[str, Any]:
    operation, base = _operation(path, method)
    response = _resolve(operation["responses"][str(status)], base)
    schema: dict[str, Any] = response["content"][content_type]["schema"]
    return schema


def validate(path: str, method: str, status: int, body: Any) -> None:
    """Raise jsonschema.ValidationError if `body` does not fit the spec's response schema."""
    jsonschema.Draft202012Validator(response_schema(path, method, status)).validate(body)
