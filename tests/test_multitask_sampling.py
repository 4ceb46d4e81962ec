"""Task samplers: the distributions they are defined by, exact schedules, determinism, coverage of the data."""
from __future__ import annotations

import math
from collections import Counter
from types import SimpleNamespace

import pytest

from llmkit.errors import InputError
from llmkit.train.sampling import TaskSampler, task_probabilities

SIZES = [800, 200, 50]


def test_distributions():
    assert task_probabilities("proportional", SIZES) == pytest.approx([n / 1050 for n in SIZES])
    assert task_probabilities("temperature", SIZES, temperature=1.0) == pytest.approx(
        task_probabilities("proportional", SIZES))
    roots = [math.sqrt(n) for n in SIZES]
    assert task_probabilities("temperature", SIZES, temperature=2.0) == pytest.approx([r / sum(roots) for r in roots])
    assert task_probabilities("temperature", SIZES, temperature=1e6) == pytest.approx([1 / 3] * 3, abs=1e-4)
    assert task_probabilities("uniform", SIZES) == pytest.approx([1 / 3] * 3)
    # annealed: proportional in the first epoch, n^0.2 in the last
    assert task_probabilities("annealed", SIZES, epoch=0, epochs=5) == pytest.approx(
        task_probabilities("proportional", SIZES))
    last = [n**0.2 for n in SIZES]
    assert task_probabilities("annealed", SIZES, epoch=4, epochs=5) == pytest.approx([x / sum(last) for x in last])
    with pytest.raises(InputError, match="unknown sampler"):
        task_probabilities("zipf", SIZES)


def _fake(sizes):
    tasks = [SimpleNamespace(spec=SimpleNamespace(name=f"t{i}")) for i in range(len(sizes))]
    ids = {f"t{i}": [[1] * (1 + j % 7) for j in range(n)] for i, n in enumerate(sizes)}
    return tasks, ids, SimpleNamespace(batch_size=10, seed=7, epochs=3.0)


@pytest.mark.parametrize("kind", ["proportional", "temperature", "uniform", "annealed"])
def test_drawn_frequencies_match_the_distribution(kind):
    sampler = TaskSampler(kind, 2.0, 1, tuple(SIZES), 10)
    steps = [s[0] for e in range(8) for s in sampler.schedule(["t0", "t1", "t2"], 0, 3.0, e)]
    counts = Counter(steps)
    probs = task_probabilities(kind, SIZES, temperature=2.0, epoch=0, epochs=3.0)
    n = len(steps)
    for i, p in enumerate(probs):  # within 4 binomial standard deviations
        assert abs(counts[f"t{i}"] / n - p) < 4 * math.sqrt(p * (1 - p) / n) + 1e-9


def test_epoch_length_determinism_and_round_robin():
    tasks, ids, cfg = _fake(SIZES)
    sampler = TaskSampler("proportional", 2.0, 1, tuple(SIZES), 10)
    assert sampler.steps_per_epoch == 80 + 20 + 5
    a, b = list(sampler(tasks, ids, cfg, 0)), list(sampler(tasks, ids, cfg, 0))
    assert a == b and len(a) == 105 and all(len(s) == 1 for s in a)
    assert list(sampler(tasks, ids, cfg, 1)) != a
    rr = TaskSampler("round_robin", 2.0, 1, tuple(SIZES), 10)
    assert [next(iter(s)) for s in rr(tasks, ids, cfg, 0)][:6] == ["t0", "t1", "t2", "t0", "t1", "t2"]


def test_all_tasks_per_step_covers_every_task_data_in_passes():
    tasks, ids, cfg = _fake([95, 40])
    sampler = TaskSampler("temperature", 2.0, 2, (95, 40), 10)
    assert sampler.steps_per_epoch == math.ceil((10 + 4) / 2)
    steps = list(sampler(tasks, ids, cfg, 0))
    assert all(list(s) == ["t0", "t1"] for s in steps)  # every task, in task order
    first_pass = [i for s in steps[:4] for i in s["t1"]]  # t1 has 4 batches per pass
    assert sorted(first_pass) == list(range(40))
    with pytest.raises(InputError, match="tasks_per_step"):
        TaskSampler("uniform", 2.0, 3, (95, 40), 10)


@pytest.mark.parametrize("kind", ["proportional", "temperature", "uniform", "round_robin", "annealed"])
def test_one_task_is_plain_seeded_epochs_as_fine_tuning_always_had(kind):
    """Fine-tuning is a one-task run: its batches are one length-bucketed pass per epoch seeded by seed + epoch,
    the order single-task fine-tuning had before it went through the sampler (same seed -> same model as then)."""
    from llmkit.train.data import bucketed_batches

    tasks, ids, cfg = _fake([95])
    sampler = TaskSampler(kind, 2.0, 1, (95,), 10)
    lengths = [len(x) for x in ids["t0"]]
    for epoch in (0, 1, 2):
        expected = [{"t0": b} for b in bucketed_batches(lengths, 10, shuffle=True, seed=cfg.seed + epoch)]
        assert list(sampler(tasks, ids, cfg, epoch)) == expected
