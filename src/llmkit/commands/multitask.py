"""llmkit multitask: one shared body, one head per task, trained jointly; optionally compared with single-task."""
from __future__ import annotations

HELP = "Train one model on several tasks (shared body, one head each), with task sampling and loss balancing."
EXAMPLES = """\
  llmkit multitask --config tasks.yaml --output runs/multi
  llmkit multitask --config tasks.yaml --baselines --output runs/multi   # + one model per task, and a report
  llmkit multitask --config tasks.yaml --weighting famo --sampler temperature --output runs/famo
  llmkit multitask --config tasks.yaml --output runs/multi --resume      # continue after a crash or Ctrl-C
Then: llmkit classify --model runs/multi --task sentiment "Lovely tea"   and   llmkit evaluate runs/multi
"""

# flags that override the YAML file's top-level options
OVERRIDES = {
    "model": (str, "body: catalog name, folder or hub id (default: all-minilm-l6-v2)"),
    "architecture": (str, "hard (shared body + heads) or mmoe (shared experts, a gate per task)"),
    "sampler": (str, "proportional, temperature, uniform, round_robin or annealed"),
    "temperature": (float, "T of the temperature sampler (default 2)"),
    "weighting": (str, "equal, uncertainty, dwa, gradnorm, pcgrad, cagrad, famo, imtl or rlw"),
    "epochs": (float, "passes over the training data"),
    "lr": (float, "peak learning rate of the body"),
    "batch_size": (int, "examples per task batch"),
    "max_length": (int, "truncate texts to this many tokens"),
    "seed": (int, "random seed; the same seed gives the same model"),
}


def add_arguments(p) -> None:
    p.add_argument("--config", required=True, metavar="tasks.yaml", help="the tasks and options (see docs/multitask.md)")
    p.add_argument("--baselines", action="store_true", help="also train each task alone and write the comparison")
    p.add_argument("--output", "-o", help="model folder to write (default: runs/multitask-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --output")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --output")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    for flag, (kind, text) in OVERRIDES.items():
        p.add_argument("--" + flag.replace("_", "-"), type=kind, help=text)


def run(args) -> int:
    from ..textio import load_yaml
    from ..train.multitask import multitask

    options = load_yaml(args.config)
    options.update({k: v for k, v in vars(args).items() if k in OVERRIDES and v is not None})
    out = multitask(options, output=args.output, baselines=args.baselines, overwrite=args.overwrite, resume=args.resume,
                    progress=not args.quiet)
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
