"""Property-based fuzzing of the server's OpenAPI schema (schemathesis): whatever a client sends, the answer is
never a 5xx. 100 examples per operation (positive and negative), bounded in time: tiny limits make every call
cheap (a few tokens, a few texts, a short audio limit), so the whole run takes a couple of minutes on two busy
cores. The body limit's chunked and slow-body cases are in test_serve.py (test_an_oversized_chunked_body...,
test_a_stalled_or_trickling_body_times_out)."""
from __future__ import annotations

import time
from collections import Counter

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, settings  # noqa: E402

from conftest import REAL_HOME  # noqa: E402
from llmkit.serve import ServeSettings  # noqa: E402
from llmkit.serve.background import running  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.real_home]

KEY = "sk-fuzz"
EXAMPLES = 100


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    # Tiny limits keep each fuzzed call cheap (a few tokens, a few texts), and exercise the limit errors too.
    s = ServeSettings(port=0, api_keys=[KEY], max_tokens=4, default_max_tokens=4, max_inputs=4,
                      max_input_chars=200, max_n=2, max_generations=2, max_prompt_tokens=64, n_ctx=512,
                      max_body_bytes=200_000, max_audio_seconds=5, body_timeout_s=30)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMKIT_HOME", REAL_HOME)
        with running(s) as url:
            # the schema itself is behind the key (/openapi.json needs it when keys are set)
            yield schemathesis.openapi.from_url(url + "/openapi.json", headers={"Authorization": f"Bearer {KEY}"})


def test_no_server_errors(api):
    """Every operation, positive and negative examples (schemathesis's default modes), answers without a 5xx.

    (Driven with hypothesis directly: schemathesis's pytest plugin does not load under this pytest.)"""
    from hypothesis import given
    from schemathesis.checks import not_a_server_error

    headers = {"Authorization": f"Bearer {KEY}"}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 9
    calls: dict[str, list[int]] = {}
    start = time.monotonic()
    for op in operations:
        statuses = calls.setdefault(op.label, [])

        @given(case=op.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None, phases=[Phase.explicit, Phase.generate, Phase.shrink])
        def check(case):
            response = case.call(headers=headers, timeout=60)
            statuses.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error], headers=headers)

        check()
    took = time.monotonic() - start
    print(f"\nfuzzed {sum(map(len, calls.values()))} calls in {took:.0f} s:")
    for label, statuses in calls.items():
        print(f"  {label}: {len(statuses)} calls, statuses {dict(sorted(Counter(statuses).items()))}")
    # Every operation got EXAMPLES calls, but GET /health: it takes no input at all, so one example is all there is.
    assert all(len(s) >= EXAMPLES for label, s in calls.items() if label != "GET /health"), calls.keys()
    assert all(s < 500 for statuses in calls.values() for s in statuses)
