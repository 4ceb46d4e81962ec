"""llmkit finetune: pretrained body + task head, fine-tuned on labelled data, saved as a model folder."""
from __future__ import annotations

HELP = "Fine-tune a pretrained body with a task head on labelled data (JSONL, CSV, Parquet or a built-in set)."
EXAMPLES = """\
  llmkit finetune --train fine_food_reviews --epochs 1 --output runs/food   # selects on 10% of train, tests on :test
  llmkit finetune --model all-minilm-l6-v2 --train data.csv --eval dev.csv --test test.csv --label-column topic --output runs/t
  llmkit finetune --train tags.jsonl --head multi_label --method lora --output runs/tags
  llmkit finetune --config run.yaml --resume          # continue a run after a crash or Ctrl-C
  llmkit finetune --train fine_food_reviews --nproc-per-node 2 --threads 1 --output runs/food  # DDP via torchrun
Then: llmkit classify --model runs/food "Lovely tea"   and   llmkit evaluate runs/food --data test.jsonl
"""

# The training flags come from TrainConfig's fields (llmkit.options); defaults: TrainConfig < --config < flags.
DATA_FLAGS = ("model", "train", "eval", "eval_split", "test", "select_on_test", "text_column", "label_column", "head",
              "task", "output")


def add_arguments(p) -> None:
    p.add_argument("--config", metavar="run.yaml", help="options from a YAML file; flags given here win")
    p.add_argument("--model", "-m", help="body: catalog name, folder or hub id (default: all-minilm-l6-v2)")
    p.add_argument("--train", help="training data: file or built-in dataset name")
    p.add_argument("--eval", help="validation data the best checkpoint and early stopping are chosen on: a file or a "
                   "dataset split other than test (default: --eval-split of --train)")
    p.add_argument("--eval-split", type=float, help="without --eval: the share of --train held out for validation "
                   "(default 0.1, seeded)")
    p.add_argument("--test", help="test data, scored once at the end with the kept weights (default: a built-in "
                   "--train's test split, e.g. fine_food_reviews:test)")
    p.add_argument("--select-on-test", action="store_true", default=None,
                   help="allow a test split as --eval (its score is then optimistic; the report says so)")
    p.add_argument("--text-column", help="default: text")
    p.add_argument("--label-column", help="default: label")
    p.add_argument("--head", choices=["single_label", "multi_label", "regression"], help="default: single_label")
    p.add_argument("--task", help="the task's name inside the model folder (default: default)")
    p.add_argument("--output", "-o", help="model folder to write (default: runs/finetune-<time>)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --output")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    from ..options import add_flags
    from ..train.config import TrainConfig

    add_flags(p.add_argument_group("training options (also YAML keys of --config)"), TrainConfig)
    add_launch_flags(p)


def add_launch_flags(p) -> None:
    from ..options import add_flags
    from ..train.distributed import LaunchOptions

    add_flags(p.add_argument_group("processes (torchrun, DDP: see docs/scale.md)"), LaunchOptions)


def launch_or_run(args, train) -> int:
    """Under torchrun's processes when --nproc-per-node / --nnodes ask for them, else ``train()`` here. A rank
    other than 0 keeps quiet about a refused input (rank 0 says it once) and prints no summary."""
    from ..errors import InputError
    from ..options import given
    from ..train import distributed as dist

    opts = dist.LaunchOptions(**given(args, dist.LaunchOptions))
    if opts.wanted:
        return dist.launch(opts, list(args._words))
    try:
        out = train()
    except InputError:
        if dist.is_main():
            raise
        return 2
    return out if dist.is_main() else 0


def merged_options(args) -> tuple[dict, dict]:
    """(data options, training options): TrainConfig defaults < --config file < flags."""
    from ..options import given, merge_keys
    from ..textio import load_yaml
    from ..train.config import TrainConfig

    file = load_yaml(args.config) if args.config else {}
    file = merge_keys(TrainConfig, file, where=str(args.config), extra=(*DATA_FLAGS, "resume", "overwrite"))
    merged = {**file, **{k: v for k, v in vars(args).items() if v is not None and k in DATA_FLAGS},
              **given(args, TrainConfig)}
    train = {k: v for k, v in merged.items() if k in TrainConfig.__dataclass_fields__}
    data = {k: merged.get(k) for k in DATA_FLAGS}
    return data, train


def run(args) -> int:
    return launch_or_run(args, lambda: _train(args))


def _train(args) -> int:
    from ..train import distributed as dist
    from ..train.config import TrainConfig
    from ..train.finetune import finetune

    data, train = merged_options(args)
    cfg = TrainConfig(**train)
    out = finetune(data["model"] or "all-minilm-l6-v2", data["train"], data["eval"], output=data["output"], config=cfg,
                   task=data["task"] or "default", eval_split=data["eval_split"], test_data=data["test"],
                   select_on_test=bool(data["select_on_test"]),
                   text_column=data["text_column"] or "text", label_column=data["label_column"] or "label",
                   head_type=data["head"] or "single_label", overwrite=args.overwrite, resume=args.resume,
                   progress=not args.quiet)
    if dist.is_main():
        print_summary(out)
    return 0


def print_summary(out, extra_lines: tuple[str, ...] = (), try_task: str | None = None) -> None:
    """What a finished training run prints: each task's best metric, then where the model is and how to use it."""
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    for task, m in metrics["best"].get("tasks", {}).items():
        where = metrics.get("selection", {}).get(task, {})
        extra = f", macro-F1 {m['macro_f1']:.4f}" if "macro_f1" in m else ""
        note = " (a test split: optimistic)" if where.get("selected_on_test") else ""
        print(f"{task}: {m['metric_name']} {m['metric']:.4f}{extra} on the selection data, {where.get('eval')}{note}")
        if task in metrics.get("test", {}):
            t = metrics["test"][task]
            extra = f", macro-F1 {t['macro_f1']:.4f}" if "macro_f1" in t else ""
            print(f"{task}: {t['metric_name']} {t['metric']:.4f}{extra} on the test data, {where.get('test')}")
    for line in extra_lines:
        print(line)
    print(f"model saved to {out}  (report: {out / 'report.md'})")
    task_flag = f" --task {try_task}" if try_task else ""
    print(f"try it: llmkit classify --model {out}{task_flag} \"some text\"")
