"""The OpenAPI 3.1 document of the control plane, generated from its route table and the
msgspec Structs it speaks (one source of truth for the server, the docs and the fuzzer)."""

from __future__ import annotations

import re
from typing import Any

import msgspec

import sac

REF = "#/components/schemas/{name}"


def document(routes: list[Any], error_type: type) -> dict[str, Any]:
    """The document of ``routes``; every failure answers an ``error_type`` body."""
    types = [r.response for r in routes] + [r.body for r in routes if r.body] + [error_type]
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    by_type = dict(zip(types, schemas, strict=True))
    error = {"description": "what went wrong", "content": {"application/json": {"schema": by_type[error_type]}}}
    paths: dict[str, dict] = {}
    for r in routes:
        op: dict[str, Any] = {
            "summary": r.summary,
            "operationId": r.handler.__name__,
            "responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": by_type[r.response]}}},
                "400": error,
                "404": error,
                "405": error,
            },
        }
        params = re.findall(r"\{(\w+)\}", r.path)
        if params:
            op["parameters"] = [
                {
                    "name": p,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"},
                }
                for p in params
            ]
        if r.path.endswith("/tail"):
            op.setdefault("parameters", []).append(
                {"name": "n", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}}
            )
        if r.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": by_type[r.body]}}}
            op["responses"].update({"413": error, "415": error})
        if r.path.endswith("/send"):
            op["responses"].update({"409": error, "502": error, "504": error})  # not running, failed, too slow
        if r.path.endswith("/start") or r.path == "/v1/agents":
            op["responses"]["422"] = error  # its preflight failed; the host's config is broken
        if r.public:
            op["security"] = []
        else:
            op["responses"].update({"401": error, "403": error})
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sac listen",
            "version": sac.__version__,
            "description": "The per-host control plane of sac. Every route but /v1/health needs a bearer token.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
