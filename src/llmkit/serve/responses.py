"""JSON responses rendered in one call, for the hot encoder routes.

FastAPI's default path (``jsonable_encoder`` over every float, then ``json.dumps``) took a third of the event
loop's time under a 32-client embeddings load (py-spy, BENCHMARKS.md); orjson writes numpy arrays directly. The
routes still declare their response models, so the OpenAPI schema is unchanged.
"""
from __future__ import annotations

import json
from typing import Any

from fastapi import Response

try:
    import orjson
except ImportError:  # pragma: no cover - orjson comes with llmkit[serve]
    orjson = None


def fast_json(payload: Any) -> Response:
    if orjson is not None:
        body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    else:  # pragma: no cover
        body = json.dumps(payload, default=lambda x: x.tolist(), separators=(",", ":")).encode()
    return Response(body, media_type="application/json")
