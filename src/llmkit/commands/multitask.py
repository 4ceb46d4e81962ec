"""llmkit multitask: one shared body, one head per task, trained jointly; optionally compared with single-task."""
from __future__ import annotations

HELP = "Train one model on several tasks (shared body, one head each), with task sampling and loss balancing."
EXAMPLES = """\
  llmkit multitask --config tasks.yaml --output runs/multi
  llmkit multitask --config tasks.yaml --baselines --output runs/multi   # + one model per task, and a report
  llmkit multitask --config tasks.yaml --weighting famo --sampler temperature --output runs/famo
  llmkit multitask --config tasks.yaml --output runs/multi --resume      # continue after a crash or Ctrl-C
  llmkit multitask --config tasks.yaml --output runs/multi --nproc-per-node 2 --threads 1   # DDP via torchrun
Then: llmkit classify --model runs/multi --task sentiment "Lovely tea"   and   llmkit evaluate runs/multi
"""

# Flags override the YAML file's top-level keys; both come from MultitaskConfig's and TrainConfig's fields.


def add_arguments(p) -> None:
    p.add_argument("--config", required=True, metavar="tasks.yaml", help="the tasks and options (see docs/multitask.md)")
    p.add_argument("--baselines", action="store_true", help="also train each task alone and write the comparison")
    p.add_argument("--output", "-o", help="model folder to write (default: runs/multitask-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --output")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --output")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    from ..options import add_flags
    from ..train.config import TrainConfig
    from ..train.mtl_config import MultitaskConfig

    add_flags(p.add_argument_group("multi-task options (override tasks.yaml)"), MultitaskConfig)
    add_flags(p.add_argument_group("training options (override tasks.yaml)"), TrainConfig)
    from .finetune import add_launch_flags

    add_launch_flags(p)


def merged_options(args) -> dict:
    """The YAML file's options with the flags given on top (checked by MultitaskConfig.from_dict)."""
    from ..options import given
    from ..textio import load_yaml
    from ..train.config import TrainConfig
    from ..train.mtl_config import MultitaskConfig

    return {**load_yaml(args.config), **given(args, MultitaskConfig), **given(args, TrainConfig)}


def run(args) -> int:
    from .finetune import launch_or_run

    return launch_or_run(args, lambda: _train(args))


def _train(args) -> int:
    from ..train import distributed as dist
    from ..train.multitask import multitask

    options = merged_options(args)
    out = multitask(options, output=args.output, baselines=args.baselines, overwrite=args.overwrite, resume=args.resume,
                    progress=not args.quiet)
    if dist.is_main():
        _summary(out)
    return 0


def _summary(out) -> None:
    import json

    from .finetune import print_summary

    tasks = list(json.loads((out / "metrics.json").read_text())["best"].get("tasks", {}))
    lines = []
    cmp = out / "comparison.json"
    comparison = json.loads(cmp.read_text()) if cmp.exists() else {}
    if comparison.get("delta_m") is not None:
        lines.append(f"Delta_m vs single-task: {comparison['delta_m']:+.2f}%")
        for r in comparison["rows"]:
            if r["negative_transfer"]:
                noise = " (within evaluation noise)" if r.get("within_noise") else ""
                lines.append(f"negative transfer: {r['task']} {r['points']:+.2f} points{noise}")
    print_summary(out, tuple(lines), try_task=tasks[0] if tasks else "TASK")
