"""Start a quiet local Ray, or join a cluster: one place for ``llmkit batch`` (Ray Data) and ``llmkit serve
--replicas`` (Ray Serve), so both say the same one line when the cluster cannot be reached."""
from __future__ import annotations

import logging
import os
import warnings
from typing import Any

from .errors import LlmkitError


def init_ray(ray: Any, address: str | None, *, here: str) -> None:
    """``ray.init`` on this machine's cores (``address`` None) or at ``address`` (``auto``, ``ray://HOST:10001``);
    quiet (no dashboard, errors only). ``here``: what the line tells the user to do instead (e.g. "drop --ray for
    a local run")."""
    logging.getLogger("ray").setLevel(logging.ERROR)
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False,
                              "configure_logging": True}
    try:
        with warnings.catch_warnings():  # Ray Client warns, then raises: the error below is the one line
            warnings.simplefilter("ignore")
            if address is None:
                ray.init(num_cpus=os.cpu_count() or 1, **kwargs)
            else:
                ray.init(address=address, **kwargs)
    except Exception as e:  # ConnectionError, TimeoutError, RuntimeError: Ray's wording varies by address kind
        why = " ".join(str(e).split())[:200]
        if address is None:
            raise LlmkitError(f"could not start a local Ray: {why} (see `ray status`; a busy machine: try again)") \
                from None
        raise LlmkitError(f"cannot reach the Ray cluster at --ray {address}: {why} "
                          f"(start it with `ray start --head`, or {here}).") from None
