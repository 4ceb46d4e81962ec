"""``llmkit serve --replicas N``: the same FastAPI app (create_app: routes, keys, limits, metrics) as a Ray Serve
deployment of N replicas behind Ray's HTTP proxy, on this machine's Ray or a cluster's (``--ray ADDRESS``).

Each replica builds its own app from the settings (models load per replica, as in one ``llmkit serve``) and names
itself in an ``x-llmkit-replica`` response header; ``/health`` adds the replica that answered and how many of the
deployment's replicas are running. A replica that dies is restarted by Ray's controller; the proxy sends new
requests to the live ones meanwhile.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, LlmkitError
from ..options import opt
from ..raycluster import init_ray
from .settings import ServeSettings

DEPLOYMENT = "llmkit"
HEADER = "x-llmkit-replica"


def import_serve():
    try:
        from ray import serve  # noqa: F401
    except ImportError:
        raise LlmkitError("llmkit serve --replicas runs on Ray Serve, which is not installed: "
                          "pip install 'llmkit[ray]'.") from None
    import ray

    return ray, serve


def replica_cpus(replicas: int, cpus: float) -> float:
    """CPUs each replica reserves: an equal share of Ray's, so N replicas fit (none is refused for want of one)."""
    return max(0.01, round(cpus / replicas, 2))


def build_deployment(settings: dict[str, Any], replicas: int, cpus_each: float, gpus_each: float = 0.0):
    """The Ray Serve application: N replicas of llmkit's app, built on each replica from ``settings``.
    ``gpus_each``: Ray shows a replica only the GPUs it asks for (``--device`` cuda/auto; never run on a GPU here)."""
    _, serve = import_serve()
    need = {"num_cpus": cpus_each, **({"num_gpus": gpus_each} if gpus_each else {})}

    @serve.deployment(name=DEPLOYMENT, num_replicas=replicas, ray_actor_options=need,
                      max_ongoing_requests=64, health_check_period_s=2, health_check_timeout_s=30)
    @serve.ingress()
    class LlmkitReplica:
        def __init__(self, values: dict[str, Any]):
            self.values = values

        def __serve_build_asgi_app__(self):
            return replica_app(ServeSettings(**self.values))

    return LlmkitReplica.bind(settings)


def replica_app(settings: ServeSettings):
    """create_app's app, plus the replica's name on every response and the deployment's state in /health."""
    import asyncio

    from ray import serve

    from .app import create_app

    app = create_app(settings)
    me = serve.get_replica_context().replica_id.unique_id

    @app.middleware("http")
    async def name_the_replica(request, call_next):
        response = await call_next(request)
        response.headers[HEADER] = me
        return response

    health = next(r for r in app.router.routes if getattr(r, "path", None) == "/health")
    single = health.endpoint

    async def health_of_replicas() -> dict[str, Any]:
        body = await single()
        running, target = await asyncio.to_thread(_replica_counts)
        return {**body, "replica": me, "replicas": {"running": running, "target": target}}

    health.endpoint = health.dependant.call = health_of_replicas
    return app


def _replica_counts() -> tuple[int, int]:
    from ray import serve

    for app in serve.status().applications.values():
        dep = app.deployments.get(DEPLOYMENT)
        if dep is not None:
            return dep.replica_states.get("RUNNING", 0), sum(dep.replica_states.values())
    return 0, 0


@dataclass
class ReplicaOptions:
    """Flags of ``llmkit serve`` that put it on Ray Serve (not ServeSettings: they shape the launch, not the app)."""

    replicas: int | None = opt(None, "run N copies of the app as a Ray Serve deployment behind Ray's HTTP proxy "
                               "(pip install 'llmkit[ray]'; see docs/scale.md)")
    ray: str | None = opt(None, "join this Ray cluster (auto, or ray://HOST:10001) instead of starting one here",
                          metavar="ADDRESS")


def serve_replicas(settings: ServeSettings, replicas: int, address: str | None = None) -> None:
    """Start (or join) Ray, run the deployment with HTTP on ``settings.host:port`` and wait until Ctrl-C."""
    if replicas < 1:
        raise InputError("--replicas must be >= 1.")
    ray, serve = import_serve()
    from .app import create_app

    create_app(settings)  # the same refusals as `llmkit serve` (a public --host without a key...) before Ray starts
    init_ray(ray, address, here="drop --ray for this machine")  # from here Ctrl-C and `kill` stop Ray, no orphans
    try:
        cpus = ray.cluster_resources().get("CPU", 1)
        gpus = ray.cluster_resources().get("GPU", 0) if settings.device != "cpu" else 0
        serve.start(http_options={"host": settings.host, "port": settings.port}, logging_config={"log_level": "ERROR"})
        serve.run(build_deployment(settings.model_dump(), replicas, replica_cpus(replicas, cpus),
                                   min(1.0, gpus / replicas)), name="llmkit", route_prefix="/")
        print(f"llmkit serving on http://{settings.host}:{settings.port} with {replicas} replica(s) on Ray Serve "
              "(Ctrl-C stops)", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
