"""Property-based fuzzing of the server's OpenAPI schema (schemathesis): whatever a client sends, the answer is
never a 5xx. Bounded (a few examples per operation) so it runs in about a minute on two busy cores."""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from conftest import REAL_HOME  # noqa: E402
from llmkit.serve import ServeSettings  # noqa: E402
from llmkit.serve.background import running  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.real_home]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    # Tiny limits keep each fuzzed call cheap (a few tokens, a few texts), and exercise the limit errors too.
    s = ServeSettings(port=0, api_keys=["sk-fuzz"], max_tokens=4, default_max_tokens=4, max_inputs=4,
                      max_input_chars=200, max_n=2, max_prompt_tokens=64, n_ctx=512, max_body_bytes=200_000)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMKIT_HOME", REAL_HOME)
        with running(s) as url:
            yield schemathesis.openapi.from_url(url + "/openapi.json")


def test_no_server_errors(api):
    """Every operation, positive and negative examples (schemathesis's default modes), answers without a 5xx.

    (Driven with hypothesis directly: schemathesis's pytest plugin does not load under this pytest.)"""
    from hypothesis import given
    from schemathesis.checks import not_a_server_error

    headers = {"Authorization": "Bearer sk-fuzz"}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 9
    calls: list[str] = []
    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def check(case):
            response = case.call(headers=headers, timeout=120)
            calls.append(f"{op.label} -> {response.status_code}")
            case.validate_response(response, checks=[not_a_server_error], headers=headers)

        check()
    assert len(calls) >= 2 * len(operations)
