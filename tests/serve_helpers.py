"""A real ``llmkit serve`` on 127.0.0.1 with the prepared default models, for the server's test files."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import pytest

from conftest import REAL_HOME


@contextmanager
def real_server(**settings: Any) -> Iterator[str]:
    """``running(ServeSettings(port=0, **settings))`` under the real LLMKIT_HOME; yields its base URL."""
    from llmkit.serve import ServeSettings
    from llmkit.serve.background import running

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMKIT_HOME", REAL_HOME)
        with running(ServeSettings(port=0, **settings)) as url:
            yield url
