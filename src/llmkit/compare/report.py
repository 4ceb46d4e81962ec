"""The report of ``llmkit compare``: ``report.md`` (outputs side by side), ``report.json`` (everything measured)
and ``chart.png`` (speed, first token, memory and score per model), written all at once or not at all."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

FILES = ("report.md", "report.json", "chart.png")


def write_report(result: Any, output: str | Path) -> Path:
    """Write the three files into ``output`` (made if absent): first into a temporary folder beside it, then
    moved in, so an interrupted run never leaves a half-written report. Returns the folder."""
    output = Path(output)
    data = result.to_dict()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.parent / f".{output.name}.tmp-{os.getpid()}"  # mkdir, not mkdtemp: the umask's permissions
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        (tmp / "report.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "report.md").write_text(markdown(data), encoding="utf-8")
        chart(data["models"], tmp / "chart.png")
        if not output.exists():
            tmp.rename(output)
            return output
        for name in FILES:  # an existing folder keeps its other files; ours are replaced one by one, atomically
            os.replace(tmp / name, output / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return output


def _num(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "-"


def _cell(text: Any) -> str:
    """Text that stays inside one Markdown table cell."""
    return str(text or "").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def markdown(data: dict[str, Any]) -> str:
    runs = data["models"]
    opts = data["options"]
    work = f"suite `{opts['suite']}`" if opts.get("suite") else f"{len(data['prompts'])} prompts"
    lines = ["# Compare", "", f"{work}, at most {opts['max_tokens']} new tokens, temperature {opts['temperature']}, "
             f"seed {opts['seed']}; llmkit {data['llmkit_version']}, {data['created']}. Models ran one after the "
             "other, each in its own process.", "",
             "| model | engine | load s | first token s (median) | decode tok/s | tokens | peak RSS MB | "
             "baseline RSS MB | score |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        score = f"{r['score']:.3f} ({r['metric']})" if isinstance(r.get("score"), (int, float)) else "-"
        lines.append(f"| {_cell(r['model'])} | {r.get('engine', '-')} | {_num(r.get('load_s'), '.1f')} | "
                     f"{_num(r.get('first_token_s'), '.3f')} | {_num(r.get('tokens_per_s'), '.1f')} | "
                     f"{r.get('completion_tokens', '-')} | {_num(r.get('peak_rss_mb'), '.0f')} | "
                     f"{_num(r.get('baseline_rss_mb'), '.0f')} | {score} |")
    lines += ["", f"Memory: {data['memory']}.", "", "![chart](chart.png)", "", "## Outputs", ""]
    for i in range(max(len(r["outputs"]) for r in runs)):
        first = next(r["outputs"][i] for r in runs if i < len(r["outputs"]))
        lines += [f"### {i + 1}. {_cell(first.get('prompt'))}", "",
                  "| " + " | ".join(_cell(r["model"]) for r in runs) + " |", "|" + "---|" * len(runs),
                  "| " + " | ".join(_cell(r["outputs"][i].get("text")) if i < len(r["outputs"]) else ""
                                    for r in runs) + " |", ""]
    return "\n".join(lines)


def chart(runs: list[dict[str, Any]], path: Path) -> None:
    """One PNG: a bar chart per measure that some model has."""
    from ..train.report import pyplot

    plt = pyplot()
    measures = [(k, title) for k, title in (("tokens_per_s", "decode tok/s (higher is better)"),
                                            ("first_token_s", "first token s (lower is better)"),
                                            ("peak_rss_mb", "peak RSS MB (lower is better)"),
                                            ("score", "score (higher is better)"))
                if any(isinstance(r.get(k), (int, float)) for r in runs)]
    names = [Path(r["model"]).name for r in runs]
    fig, axes = plt.subplots(1, len(measures), figsize=(3.2 * len(measures), 3.2), squeeze=False)
    for ax, (key, title) in zip(axes[0], measures):
        values = [r.get(key) if isinstance(r.get(key), (int, float)) else 0 for r in runs]
        ax.bar(range(len(runs)), values, color=[f"C{i}" for i in range(len(runs))])
        ax.set_xticks(range(len(runs)), names, rotation=20, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
