"""A leaderboard from pairwise votes: Bradley-Terry strengths fitted by maximum likelihood, with bootstrap
confidence intervals, shown on the Elo scale (as Chatbot Arena does: https://arxiv.org/abs/2403.04132).

Bradley-Terry says P(i beats j) = p_i / (p_i + p_j). The fit is Hunter's MM algorithm
(https://doi.org/10.1214/aos/1079120141): p_i <- W_i / sum_j n_ij / (p_i + p_j), with a tie counted as half a win
for each side ("both bad" is a tie). Each model also plays one virtual tie against a fixed reference of
strength 1: a weak prior that keeps an unbeaten model's rating finite instead of running off to infinity.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SCALE = 400 / np.log(10)  # Elo points per unit of log-strength
BASE = 1000.0


@dataclass(frozen=True)
class Rating:
    model: str
    rating: float  # Elo scale; the models' mean is 1000
    low: float  # 95% bootstrap interval
    high: float
    votes: int
    wins: int
    ties: int
    losses: int


def _matrix(votes: Sequence, index: dict[str, int]) -> np.ndarray:
    """wins[i, j]: how often i beat j, a tie adding 0.5 to both."""
    k = len(index)
    wins = np.zeros((k, k))
    for v in votes:
        a, b = index[v.model_a], index[v.model_b]
        if v.outcome == "a":
            wins[a, b] += 1
        elif v.outcome == "b":
            wins[b, a] += 1
        else:
            wins[a, b] += 0.5
            wins[b, a] += 0.5
    return wins


def fit(wins: np.ndarray, iterations: int = 500, tol: float = 1e-10) -> np.ndarray:
    """Bradley-Terry log-strengths (mean 0) from a wins matrix, by MM with the virtual-tie prior."""
    k = len(wins)
    games = wins + wins.T
    w = wins.sum(axis=1) + 0.5  # + the half win of the virtual tie
    p = np.ones(k)
    for _ in range(iterations):
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1) + 1 / (p + 1.0)  # + the game with the reference
        new = w / denom
        if np.max(np.abs(np.log(new) - np.log(p))) < tol:
            p = new
            break
        p = new
    logp = np.log(p)
    return logp - logp.mean()


def leaderboard(votes: Sequence, *, rounds: int = 200, seed: int = 0) -> list[Rating]:
    """Models ranked by rating, each with a 95% interval from ``rounds`` bootstrap resamples of the votes
    (seeded: the same votes always give the same board)."""
    names = sorted({v.model_a for v in votes} | {v.model_b for v in votes})
    if not names:
        return []
    index = {n: i for i, n in enumerate(names)}
    point = BASE + SCALE * fit(_matrix(votes, index))
    rng = np.random.default_rng(seed)
    samples = np.array([fit(_matrix([votes[i] for i in rng.integers(0, len(votes), len(votes))], index))
                        for _ in range(rounds)])
    low, high = np.percentile(BASE + SCALE * samples, [2.5, 97.5], axis=0)
    board = []
    for name, i in index.items():
        mine = [v for v in votes if name in (v.model_a, v.model_b)]
        won = sum(1 for v in mine if (v.outcome == "a" and v.model_a == name) or (v.outcome == "b" and v.model_b == name))
        tied = sum(1 for v in mine if v.outcome in ("tie", "both_bad"))
        board.append(Rating(name, float(point[i]), float(min(low[i], point[i])), float(max(high[i], point[i])),
                            len(mine), won, tied, len(mine) - won - tied))
    return sorted(board, key=lambda r: -r.rating)


def markdown_table(board: Sequence[Rating]) -> str:
    if not board:
        return "No votes yet: ask both models something, then vote."
    lines = ["| rank | model | rating | 95% CI | votes | wins / ties / losses |", "|---|---|---|---|---|---|"]
    lines += [f"| {i} | {r.model} | {r.rating:.0f} | {r.low:.0f} to {r.high:.0f} | {r.votes} | "
              f"{r.wins} / {r.ties} / {r.losses} |" for i, r in enumerate(board, 1)]
    return "\n".join(lines)
