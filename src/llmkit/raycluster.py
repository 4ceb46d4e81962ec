"""Start a quiet local Ray, or join a cluster: one place for ``llmkit batch`` (Ray Data) and ``llmkit serve
--replicas`` (Ray Serve), so both say the same one line when the cluster cannot be reached."""
from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
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

    def unreachable(why: str) -> LlmkitError:
        return LlmkitError(f"cannot reach the Ray cluster at --ray {address}: {why} "
                           f"(start it with `ray start --head`, or {here}).")

    refused = _refused(address) if address else None
    if refused:
        raise unreachable(refused)
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
        raise unreachable(why) from None
    stop_on_interrupt()


def _refused(address: str) -> str | None:
    """Why ``ray://HOST:PORT`` or ``HOST:PORT`` takes no TCP connection, in seconds; None when it does, or for
    ``auto``. Ray itself retries a dead address for a minute (Ray Client) or for minutes (a GCS address)."""
    m = re.fullmatch(r"(?:ray://)?\[?([^\[\]]+?)\]?:(\d+)", address)
    if not m:
        return None
    try:
        socket.create_connection((m.group(1), int(m.group(2))), timeout=10).close()
    except OSError as e:
        return e.strerror or str(e) or type(e).__name__
    return None


def stop_on_interrupt() -> None:
    """Ctrl-C and `kill` (SIGTERM) raise KeyboardInterrupt in the driver, so its ``finally`` shuts Ray down (no
    orphans) and a batch job keeps its finished shards; call it after ``ray.init``, which sets its own SIGTERM
    handler. SIGINT is taken back even when it was inherited as ignored: a shell starts a background job (``cmd
    &`` in a script, a CI step, a backgrounded test suite) with SIGINT ignored, and Python then never raises
    KeyboardInterrupt, so a Ctrl-C sent to the job did nothing and it ran to the end."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
