"""The Ray Data job: shards -> ``map_batches`` with one actor per model -> one atomic output file per shard.

Nothing lost, nothing twice: a shard's output (``part-<hash>.parquet`` or ``.jsonl``) is written to a temporary
name and renamed, after its errors sidecar; a shard whose file exists is done and is skipped (by the driver on a
rerun, by a worker on a retry). Ray restarts a killed actor and retries its task (``max_restarts`` /
``max_task_retries``); the retry rewrites the same shard name, so every id lands exactly once.
A small manifest (``llmkit-batch.json``) names the job; another job's output folder is refused, never overwritten.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import re
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, LlmkitError
from ..raycluster import init_ray
from .inputs import Shard

JOB_FILE = "llmkit-batch.json"
ERRORS = "errors.jsonl"
RUN = "llmkit-batch-run.json"


@dataclass(frozen=True)
class JobSpec:
    task: str                      # the pipeline task's name
    model: str | None
    engine: str
    options: dict[str, Any]        # the verb's options, as given
    output: Path
    fmt: str                       # parquet | jsonl
    workers: int | None
    threads: int
    address: str | None            # None: a local Ray; "auto" or "ray://host:port": a cluster

    def worker_spec(self) -> dict[str, Any]:
        return {"task": self.task, "model": self.model, "engine": self.engine, "options": self.options,
                "threads": self.threads, "output": str(self.output.resolve()), "fmt": self.fmt}


def import_ray():
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        raise LlmkitError("llmkit batch runs on Ray Data, which is not installed: pip install 'llmkit[ray]'.") from None
    return ray


# ---- the output folder -----------------------------------------------------------------------------------------

def check_output(output: Path, manifest: dict[str, Any]) -> None:
    """Refuse a folder holding another job's shards: it is never written into."""
    path = output / JOB_FILE
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if old != manifest:
            what = (f"task {old.get('task')} with model {old.get('model')} on {len(old.get('inputs', []))} file(s), "
                    f"unlike this job in {', '.join(k for k in manifest if old.get(k) != manifest[k])}"
                    if isinstance(old, dict) else "an unreadable manifest")
            raise InputError(f"{output} holds another job's output ({what}; see {path}); give a new --output folder "
                             "or delete that one.")
    elif output.exists() and any(output.glob("part-*")):
        raise InputError(f"{output} holds shards but no {JOB_FILE}: it is not this job's; give a new --output folder.")


def claim_output(output: Path, manifest: dict[str, Any]) -> None:
    """Make ``output`` this job's (see check_output); clear writes cut short by an interruption."""
    check_output(output, manifest)
    path = output / JOB_FILE
    output.mkdir(parents=True, exist_ok=True)
    sweep(output)
    _atomic_write(path, json.dumps(manifest, indent=1, sort_keys=True).encode())


def sweep(output: Path) -> None:
    """Remove writes cut short by an interruption or a killed worker (shards and their errors sidecars); Ray
    retries the shard, so it is written again. Safe when no worker is writing: at the start and end of a job."""
    for stale in [*output.glob(".part-*.tmp*"), *output.glob("..part-*.tmp*")]:
        stale.unlink(missing_ok=True)


def shard_file(output: Path, name: str, fmt: str) -> Path:
    return output / f"{name}.{fmt}"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_shard(output: Path, name: str, fmt: str, outputs: list[dict], errors: list[dict]) -> None:
    """The errors sidecar first, then the shard: a shard file that exists is complete, errors included."""
    err_path = output / f".{name}.errors.jsonl"
    _atomic_write(err_path, "".join(json.dumps(e, ensure_ascii=False, default=str) + "\n" for e in errors).encode())
    path = shard_file(output, name, fmt)
    if fmt == "jsonl":
        _atomic_write(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in outputs).encode())
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    pq.write_table(pa.Table.from_pylist(outputs), tmp)
    os.replace(tmp, path)


class ShardWorker:
    """The actor: one model load, then one shard per call (``map_batches(batch_size=1)``)."""

    spec: dict[str, Any] = {}  # set on a subclass per job (see _run_pending)

    def __init__(self):
        spec = self.spec
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # threads per actor, so workers x threads fits the cores
            os.environ[var] = str(spec["threads"])
        from .runners import make_runner

        self.output = Path(spec["output"])
        self.run = make_runner(spec)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        done: dict[str, list] = {"name": [], "rows": [], "errors": [], "seconds": [], "start": [], "actor": []}
        for name, rows_json in zip(batch["name"], batch["rows"]):
            rows = [tuple(r) for r in json.loads(rows_json)]
            done["start"].append(time.time())  # wall clock: comparable between the actors of one machine
            done["actor"].append(os.getpid())
            t0 = time.perf_counter()
            if not shard_file(self.output, name, self.spec["fmt"]).exists():  # a retry may find it written
                outputs, errors = self.run(rows)
                write_shard(self.output, name, self.spec["fmt"], outputs, errors)
            else:
                errors = []
            done["name"].append(name)
            done["rows"].append(len(rows))
            done["errors"].append(len(errors))
            done["seconds"].append(time.perf_counter() - t0)
        return done


# Ray's C++ core writes notes meant for Ray's developers straight to file descriptor 2 (e.g. ray-project/ray#53727,
# about Ray Data's own actors), where Python's logging levels cannot reach them.
_RAY_CORE_LINE = re.compile(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [IWE] \d+ \d+\] ")


@contextmanager
def ray_logs_hidden():
    """Route fd 2 through a filter that drops Ray's core log lines (errors from Python, ours and Ray's, pass);
    yields a file on the real terminal for the progress bar."""
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    live = [True]

    def pump() -> None:  # a daemon: Ray's processes hold the pipe open for a while after shutdown
        with os.fdopen(read_end, "rb") as src:
            for line in src:
                if live[0] and not _RAY_CORE_LINE.match(line):
                    os.write(saved, line)

    threading.Thread(target=pump, name="llmkit-ray-stderr", daemon=True).start()
    terminal = os.fdopen(os.dup(saved), "w")
    try:
        yield terminal
    finally:
        terminal.close()
        sys.stderr.flush()
        os.dup2(saved, 2)
        live[0] = False  # `saved` stays open: the pump may still hold a line for it


# ---- Ray -------------------------------------------------------------------------------------------------------

def start_ray(address: str | None):
    """A quiet local Ray on this machine's cores, or a connection to a cluster (one line when unreachable)."""
    ray = import_ray()
    init_ray(ray, address, here="drop --ray for a local run")
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False  # ours counts rows; Ray's count blocks
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    return ray


def plan_workers(ray, workers: int | None, threads: int) -> int:
    cpus = int(ray.cluster_resources().get("CPU", 1))
    if threads > cpus:
        raise InputError(f"--threads-per-worker {threads} is more than the {cpus} CPU(s) Ray has; lower it.")
    n = workers or max(1, cpus // threads)
    if n * threads > cpus:
        raise InputError(f"--workers {n} x --threads-per-worker {threads} needs {n * threads} CPUs, Ray has {cpus}; "
                         "lower one of them.")
    return n


def run_job(spec: JobSpec, shards: list[Shard], manifest: dict[str, Any]) -> dict[str, Any]:
    """Run the shards not yet written; returns the summary's figures."""
    from tqdm import tqdm

    claim_output(spec.output, manifest)
    total = sum(len(s.rows) for s in shards)
    pending = [s for s in shards if not shard_file(spec.output, s.name, spec.fmt).exists()]
    skipped_rows = total - sum(len(s.rows) for s in pending)
    t0 = time.perf_counter()
    workers = 0
    timing: dict[str, float] = {}
    if pending:
        with ray_logs_hidden() as terminal:
            ray = start_ray(spec.address)
            try:
                # no more model copies than shards to run: each actor loads the model
                workers = min(plan_workers(ray, spec.workers, spec.threads), len(pending))
                timing = _run_pending(ray, spec, pending, workers, total, skipped_rows, tqdm, terminal, t0)
            finally:
                ray.shutdown()
    errors = merge_errors(spec.output, shards)
    summary = {"rows": total, "shards": len(shards), "skipped_shards": len(shards) - len(pending),
               "skipped_rows": skipped_rows, "errors": errors, "workers": workers, "threads": spec.threads,
               "seconds": round(time.perf_counter() - t0, 3), **timing}
    # the last run's figures, for bench/batch.py and for anyone sizing a cluster from this run: worker_seconds is
    # the time inside the actors' shard calls; first_result_seconds the wait for the first shard (Ray's start,
    # the actors' model loads, one shard); steady_* the span after each actor's first shard
    sweep(spec.output)  # a worker killed mid-write left its temporary file; its shard was redone by the retry
    _atomic_write(spec.output / RUN, json.dumps(summary, indent=1).encode())
    return summary


def _run_pending(ray, spec: JobSpec, pending: list[Shard], workers: int, total: int, skipped: int, tqdm,
                 terminal, t0: float) -> dict[str, float]:
    items = [{"name": s.name, "rows": json.dumps(s.rows, default=str)} for s in pending]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    # The job's spec rides on the class, not as constructor arguments: Ray keeps those in the object store, and
    # an actor restarted after its arguments were freed cannot start (ray-project/ray#53727).
    worker = type("ShardWorker", (ShardWorker,), {"spec": spec.worker_spec()})
    # Ray Data gives actors max_restarts=-1 and max_task_retries=-1 by default (passing them is deprecated): a
    # killed actor comes back and its shard is retried; tests/test_batch.py kills one to keep that true.
    # --device cuda/auto: Ray shows an actor only the GPUs it asks for (CUDA_VISIBLE_DEVICES), so the actors
    # share the cluster's GPUs; never run on a GPU here (docs/scale.md)
    gpus = ray.cluster_resources().get("GPU", 0) if spec.options.get("device", "cpu") != "cpu" else 0
    ds = ds.map_batches(worker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers),
                        num_cpus=spec.threads, **({"num_gpus": min(1.0, gpus / workers)} if gpus else {}))
    arrivals: list[tuple[float, float]] = []  # (seconds since start, seconds inside the shard call)
    calls: list[tuple[int, float, float]] = []  # (actor, wall-clock start, seconds inside the shard call)
    with tqdm(total=total, initial=skipped, unit="row", desc="llmkit batch", file=terminal, smoothing=0.1,
              disable=None, mininterval=0.5) as bar:
        try:
            with warnings.catch_warnings():  # Ray's tuning hints are for Ray's developers; errors still raise
                warnings.filterwarnings("ignore", module=r"ray\.")
                for row in ds.iter_rows():
                    bar.update(int(row["rows"]))
                    arrivals.append((time.perf_counter() - t0, float(row["seconds"])))
                    calls.append((int(row["actor"]), float(row["start"]), float(row["seconds"])))
        except (KeyboardInterrupt, LlmkitError):
            raise
        except Exception as e:  # a worker that cannot start or a task that fails for good: Ray's long report
            raise LlmkitError(f"the batch job stopped: {_last_words(e)}; finished shards are kept, so the same "
                              "command resumes once that is fixed.") from None
    return {"worker_seconds": round(sum(b for _, b in arrivals), 3),
            "first_result_seconds": round(arrivals[0][0], 3) if arrivals else 0.0, **_gaps(calls)}


def _gaps(calls: list[tuple[int, float, float]]) -> dict[str, float]:
    """Ray's cost per shard in the steady state, as the actors saw it: the idle time of an actor between the end of
    one shard call and the start of its next (scheduling, moving the shard's rows, returning the result). Timed
    inside the actors, because the driver sees results late and in bursts (Ray Data buffers them)."""
    by_actor: dict[int, list[tuple[float, float]]] = {}
    for actor, start, seconds in calls:
        by_actor.setdefault(actor, []).append((start, seconds))
    gaps = []
    for runs in by_actor.values():
        runs.sort()
        gaps += [max(0.0, nxt[0] - (cur[0] + cur[1])) for cur, nxt in zip(runs, runs[1:])]
    return {"steady_shards": len(gaps), "gap_seconds_mean": round(sum(gaps) / len(gaps), 4) if gaps else 0.0,
            "gap_seconds_max": round(max(gaps), 4) if gaps else 0.0}


def _last_words(e: Exception) -> str:
    """The root cause out of Ray's wrapped, multi-line exception text."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.startswith(" ")]
    causes = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b", ln)]
    return (causes[-1] if causes else (lines[-1] if lines else type(e).__name__))[:300]


def merge_errors(output: Path, shards: list[Shard]) -> int:
    """``errors.jsonl``: every shard's bad rows (id, reason), in input order; rewritten whole on each run."""
    lines = []
    for s in shards:
        side = output / f".{s.name}.errors.jsonl"
        if side.exists():
            lines += [ln for ln in side.read_text(encoding="utf-8").splitlines() if ln.strip()]
    _atomic_write(output / ERRORS, "".join(ln + "\n" for ln in lines).encode())
    return len(lines)
