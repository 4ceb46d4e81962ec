"""Training on several processes: torchrun (torch.distributed elastic) launches them, gradients are averaged.

>>> # llmkit finetune --train fine_food_reviews --nproc-per-node 2 --threads 1 --output runs/food
>>> # = torchrun --standalone --nproc-per-node 2 -m llmkit.cli finetune --train fine_food_reviews ... (either works)

What a rank does differently from a single process (everything else is the same Trainer):
- each global batch of ``--batch-size`` examples is cut into ``world`` slices, one per rank, and each rank's loss is
  scaled so that the averaged gradient is exactly the gradient of the whole batch: the batch size and learning rate
  mean the same thing at any world size (same seed, same batches, same schedule);
- the gradients are averaged over the ranks once per optimizer step with one all-reduce of a flat buffer (the
  algorithm of DistributedDataParallel; its wrapper is not used because a multi-task step runs one forward per task
  before one backward, and gradient-balancing strategies take per-task gradients, neither of which it allows);
- rank 0 alone writes the output folder (checkpoints, report, model); the others wait at a barrier.
Backends: gloo on CPU, NCCL on CUDA.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ..devices import resolve_torch
from ..errors import InputError, TrainingError
from ..options import opt


@dataclass
class LaunchOptions:
    """How many processes train: flags of ``finetune`` and ``multitask`` (not YAML keys: they shape the launch)."""

    nproc_per_node: int = opt(1, "training processes on this machine: more than 1 launches them through torchrun "
                              "(DDP; give each a share of the cores with --threads)")
    nnodes: int = opt(1, "machines taking part; run the same command on each, with --rdzv-endpoint")
    rdzv_endpoint: str | None = opt(None, "HOST:PORT of the rendezvous every machine can reach (with --nnodes > 1)",
                                    metavar="HOST:PORT")

    def __post_init__(self) -> None:
        if self.nproc_per_node < 1 or self.nnodes < 1:
            raise InputError("--nproc-per-node and --nnodes must be >= 1.")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise InputError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (a machine every node can reach).")

    @property
    def wanted(self) -> bool:
        """True when this command should start torchrun (and is not already one of its ranks)."""
        return (self.nproc_per_node > 1 or self.nnodes > 1) and not launched()


def launched() -> bool:
    """True inside a process that torchrun started."""
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def rank() -> int:
    return int(os.environ.get("RANK", 0))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    return rank() == 0


def active() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def setup(device: str) -> None:
    """Join the process group torchrun set up (no-op in a single process)."""
    if world_size() <= 1 or active():
        return
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    torch.distributed.init_process_group(backend)


@contextlib.contextmanager
def peers() -> Iterator[None]:
    """Around a collective call: a peer that died (kill -9, out of memory) is one clear line, not gloo's trace."""
    try:
        yield
    except RuntimeError as e:  # gloo: "Connection closed by peer"; NCCL: DistBackendError, a RuntimeError too
        raise TrainingError(f"rank {rank()}: another training process stopped ({str(e).splitlines()[0][:120]}); "
                            "the last checkpoint is kept: rerun the same command with --resume.") from None


def barrier() -> None:
    if active():
        with peers():
            torch.distributed.barrier()


def broadcast_params(model: torch.nn.Module) -> None:
    """Every rank starts from rank 0's weights (the seed already makes them equal; this makes it certain)."""
    if active():
        with peers():
            for p in model.state_dict().values():
                torch.distributed.broadcast(p, 0)


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Average the gradients over the ranks: one all-reduce of one flat buffer. A parameter with no gradient on
    this step (another task's head) has none on every rank (they all draw the same tasks) and stays without one,
    so the optimizer skips it as it does in one process."""
    if not active():
        return
    params = [p for p in params if p.grad is not None]
    grads = [p.grad for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    with peers():
        torch.distributed.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(g).clone()
        offset += n


def global_mean(value: float) -> float:
    """The mean of ``value`` over the ranks (for the logged loss, so the curve is the whole batch's)."""
    if not active():
        return value
    t = torch.tensor([value], dtype=torch.float64)
    with peers():
        torch.distributed.all_reduce(t)
    return float(t.item()) / world_size()


def my_slice(idx: list[int]) -> tuple[list[int], float]:
    """This rank's share of a global batch and the factor that makes averaged gradients the batch's mean:
    rank r takes every world-th example from r; its mean loss is scaled by len(share) * world / len(batch)."""
    world = world_size()
    if world <= 1:
        return idx, 1.0
    share = idx[rank()::world]
    return share, len(share) * world / len(idx)


def check_world(saved: int | None, where: str) -> None:
    """A checkpoint resumes only at the world size that wrote it (its batches were cut that way)."""
    saved = saved or 1
    if saved != world_size():
        raise InputError(f"{where} was written by {saved} training process(es) and this run has {world_size()}; "
                         f"resume with --nproc-per-node {saved} (x --nnodes) or start again with --overwrite.")


def launch(opts: LaunchOptions, argv: list[str]) -> int:
    """Run this very command under torchrun with ``opts``' world; one clear line if a rank fails."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = ["--nproc-per-node", str(opts.nproc_per_node), "--nnodes", str(opts.nnodes)]
    if opts.nnodes > 1:
        args += ["--rdzv-backend", "c10d", "--rdzv-endpoint", opts.rdzv_endpoint]
    else:
        args += ["--standalone"]
    for name in list(logging.root.manager.loggerDict):  # each sets its own level: silence torchrun's chatter,
        if name.startswith("torch.distributed"):            # failures come back as ChildFailedError below
            logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own default, said here so it does not warn
    try:
        run(parse_args([*args, "-m", "llmkit.cli", *argv]))
    except ChildFailedError as e:
        # the rank that failed first (timestamps are whole seconds: on a tie, one killed by a signal over one that
        # lost its peer); the agent's SIGTERM to the others is a consequence, never the cause
        failed, first = min(e.failures.items(), key=lambda kv: (kv[1].exitcode == -signal.SIGTERM, kv[1].timestamp,
                                                                 kv[1].exitcode >= 0, kv[0]))
        if first.exitcode == 2 and failed == 0:  # rank 0 refused the input and said why in one line
            return 2
        how = f"signal {first.signal_name()}" if first.exitcode < 0 else f"exit code {first.exitcode}"
        raise TrainingError(f"training process rank {failed} of {opts.nproc_per_node * opts.nnodes} stopped "
                            f"({how}); the last checkpoint is kept: rerun the same command with --resume.") from None
    except Exception as e:  # rendezvous timeouts, an unreachable endpoint
        raise TrainingError(f"torchrun could not start the training processes: {str(e).splitlines()[0][:200]}") \
            from None
    return 0


def resolve_device(device: str) -> str:
    """``auto``: cuda, then mps, then cpu (``llmkit.devices``, shared with inference); under torchrun each rank
    takes the GPU of its local rank."""
    device = resolve_torch(device)
    if device == "cuda" and world_size() > 1:
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return device

