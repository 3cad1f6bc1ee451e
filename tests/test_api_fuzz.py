"""A bounded fuzz run of the JSON API from its own OpenAPI document (schemathesis): every operation gets generated
requests, valid and not, and no answer may be a 500, carry a status code the document does not list, or have a body
that breaks the document's schema. The app runs in process (WSGI) with a bureau token for the authenticated ones."""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                              status_code_conformance)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Examples per operation and mode (valid requests, then invalid ones): a few hundred in all, fewer where each
# request screens a list.
EXAMPLES = {"/api/v1/screen": 8, "/api/v1/budget": 10}
DEFAULT_EXAMPLES = 20


@pytest.fixture()
def fuzzed(make_app, token_for):
    app = make_app()
    return app, schemathesis.openapi.from_wsgi("/api/openapi.json", app), token_for(app)


def test_the_api_answers_every_generated_request_as_its_document_says(fuzzed):
    app, schema, token = fuzzed
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, EXAMPLES.get(operation.path, DEFAULT_EXAMPLES), headers)


def fuzz(operation, mode: GenerationMode, examples: int, headers: dict):
    """`examples` generated requests of one operation; the first failure raises with schemathesis's report."""
    @given(case=operation.as_strategy(mode))
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS)

    run()
