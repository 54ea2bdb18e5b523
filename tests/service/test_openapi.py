"""The committed OpenAPI schema is the live one."""

from __future__ import annotations

import json
from pathlib import Path

from simmatch.service.openapi import openapi_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = "python -m simmatch.service.openapi docs/openapi.json"


def test_committed_schema_is_current():
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert openapi_schema() == committed, f"docs/openapi.json is stale; regenerate it: {REGENERATE}"


def test_schema_documents_the_envelope_and_security():
    schema = openapi_schema()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert schema["paths"]["/health"]["get"]["security"] == []
    for path in ("/v1/embeddings", "/similarity", "/compare", "/rerank", "/search"):
        responses = schema["paths"][path]["post"]["responses"]
        assert {"400", "401", "413", "415", "422", "429"} <= set(responses)
        ref = responses["422"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorEnvelope"
