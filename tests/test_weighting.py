"""Each loss-weighting strategy against its paper's definition, on small problems with known answers."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from llmkit.errors import InputError
from llmkit.train.weighting import STRATEGIES, make_weighting
from llmkit.train.weighting.cagrad import cagrad_direction
from llmkit.train.weighting.imtl import imtl_weights
from llmkit.train.weighting.pcgrad import project_conflicting


class TwoHeads(nn.Module):
    """A shared linear layer (named like a body) and one head per task, like TextModel."""

    def __init__(self, tasks=("a", "b")):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Linear(4, 4)
        self.heads = nn.ModuleDict({t: nn.Linear(4, 1) for t in tasks})

    def losses(self, x: torch.Tensor, targets: dict[str, float]) -> dict[str, torch.Tensor]:
        h = torch.tanh(self.body(x))
        return {t: ((self.heads[t](h).squeeze(-1) - y) ** 2).mean() for t, y in targets.items()}


def flat_grad(params) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in params])


def per_task_grads(model, x, targets):
    out = {}
    for t in targets:
        model.zero_grad()
        model.losses(x, {t: targets[t]})[t].backward()
        out[t] = flat_grad(model.body.parameters()).clone()
    model.zero_grad()
    return out


X = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
TARGETS = {"a": 1.0, "b": -1.0}


def test_registry_and_options_are_validated():
    assert {"equal", "uncertainty", "dwa", "gradnorm", "pcgrad", "cagrad", "famo", "imtl", "rlw"} <= set(STRATEGIES)
    with pytest.raises(InputError, match="choose one of"):
        make_weighting("magic", ["a"])
    with pytest.raises(InputError, match="its options: \\['alpha', 'lr'\\]"):
        make_weighting("gradnorm", ["a"], beta=1)


def test_equal_is_the_plain_sum_of_gradients():
    model = TwoHeads()
    g = per_task_grads(model, X, TARGETS)
    make_weighting("equal", ["a", "b"])(model.losses(X, TARGETS), model)
    assert torch.allclose(flat_grad(model.body.parameters()), g["a"] + g["b"], atol=1e-6)


def test_pcgrad_known_answer_and_no_conflict_left():
    g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])  # g1.g2 = -1 < 0
    p = project_conflicting(g)
    assert torch.allclose(p, torch.tensor([[0.5, 0.5], [0.0, 1.0]]))  # by hand from the paper's rule
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        g = torch.randn(2, 10, generator=gen)
        p = project_conflicting(g)
        d = p.sum(0)
        if g[0] @ g[1] < 0:
            assert abs(float(p[0] @ g[1])) < 1e-4 and abs(float(p[1] @ g[0])) < 1e-4
        else:
            assert torch.allclose(d, g.sum(0))  # no conflict: plain sum
        assert float(d @ g[0]) >= -1e-4 and float(d @ g[1]) >= -1e-4  # neither loss rises to first order


def test_pcgrad_writes_the_projected_sum_into_the_shared_grads():
    model = TwoHeads()
    g = per_task_grads(model, X, TARGETS)
    torch.manual_seed(5)
    expected = project_conflicting(torch.stack([g["a"], g["b"]])).sum(0)
    torch.manual_seed(5)
    make_weighting("pcgrad", ["a", "b"])(model.losses(X, TARGETS), model)
    assert torch.allclose(flat_grad(model.body.parameters()), expected, atol=1e-5)
    assert all(p.grad is not None for p in model.heads.parameters())  # heads get their own task's gradient


def test_cagrad_reduces_to_the_mean_at_c0_and_maximises_the_worst_task_in_the_ball():
    gen = torch.Generator().manual_seed(3)
    g = torch.randn(3, 6, generator=gen).double()
    d0, _ = cagrad_direction(g, c=0.0)
    assert torch.allclose(d0, g.mean(0), atol=1e-6)
    c = 0.5
    d, w = cagrad_direction(g, c=c, rescale=False)
    g0 = g.mean(0)
    assert abs(w.sum() - 1) < 1e-6 and (w >= -1e-9).all()
    assert abs(float((d - g0).norm()) - c * float(g0.norm())) < 1e-4  # on the ball's boundary
    worst = float((g @ d).min())
    # no point of the ball ||d - g0|| <= c||g0|| does better for the worst task (sampled on the boundary)
    u = torch.randn(5000, 6, generator=gen).double()
    cand = g0 + c * g0.norm() * u / u.norm(dim=1, keepdim=True)
    assert worst >= float((cand @ g.T).min(1).values.max()) - 1e-3
    assert worst > float((g @ g0).min())  # better than plain averaging for the worst task


def test_imtl_gives_equal_projections_on_every_unit_gradient():
    gen = torch.Generator().manual_seed(4)
    g = torch.randn(3, 8, generator=gen) * torch.tensor([[1.0], [10.0], [0.1]])  # very different magnitudes
    alpha = imtl_weights(g)
    assert abs(float(alpha.sum()) - 1) < 1e-9
    d = (alpha[:, None] * g.double()).sum(0)
    proj = [float(d @ (gi.double() / gi.double().norm())) for gi in g]
    assert max(proj) - min(proj) < 1e-6 * max(1.0, abs(proj[0]))


def test_gradnorm_equalises_weighted_gradient_norms_as_alpha_goes_to_zero():
    gn = make_weighting("gradnorm", ["a", "b", "c"], alpha=0.0, lr=0.01)
    norms, losses = torch.tensor([1.0, 4.0, 10.0]), torch.tensor([1.0, 1.0, 1.0])
    for _ in range(3000):
        gn.update(norms, losses)
    weighted = gn.w * norms.double()
    assert abs(float(gn.w.sum()) - 3) < 1e-9
    assert float(weighted.max() / weighted.min()) < 1.05
    # alpha > 0: the task whose loss falls slowest (highest L/L0) gets the largest weighted gradient norm
    gn = make_weighting("gradnorm", ["a", "b"], alpha=1.5, lr=0.01)
    gn.update(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0]))  # records L(0)
    for _ in range(3000):
        gn.update(torch.tensor([1.0, 1.0]), torch.tensor([0.2, 0.8]))
    assert gn.w[1] > gn.w[0]


def test_uncertainty_weights_settle_at_one_over_twice_the_loss():
    w = make_weighting("uncertainty", ["a", "b"], lr=0.05)
    p = nn.Parameter(torch.zeros(1))
    for _ in range(1500):
        losses = {"a": 0.5 + 0 * p.sum(), "b": 4.0 + 0 * p.sum()}
        out = w(losses, nn.Module())
    assert math.isclose(float(w.log_var[0]), math.log(0.5), abs_tol=0.02)
    assert math.isclose(float(w.log_var[1]), math.log(4.0), abs_tol=0.02)
    assert math.isclose(out["a"], 1 / (2 * 0.5), rel_tol=0.03) and math.isclose(out["b"], 1 / 8, rel_tol=0.03)


def test_dwa_follows_the_loss_ratio_softmax():
    dwa = make_weighting("dwa", ["a", "b"], temperature=2.0, period=1)
    assert dwa.weights() == {"a": 1.0, "b": 1.0}  # first two periods: equal
    dwa.observe({"a": 1.0, "b": 1.0})
    dwa.observe({"a": 0.5, "b": 1.0})  # a's loss halved, b's did not move
    w = dwa.weights()
    ea, eb = math.exp(0.5 / 2), math.exp(1.0 / 2)
    assert math.isclose(w["a"], 2 * ea / (ea + eb)) and math.isclose(w["b"], 2 * eb / (ea + eb))
    assert w["b"] > w["a"] and math.isclose(sum(w.values()), 2)


def test_famo_effective_weights_and_balancing():
    famo = make_weighting("famo", ["a", "b"])
    model = TwoHeads()
    losses = model.losses(X, TARGETS)
    g = per_task_grads(model, X, TARGETS)
    vals = {k: float(v.detach()) for k, v in losses.items()}
    weights = famo(losses, model)
    # z uniform at start: weights z_i / (c L_i) with c = sum z_j / L_j -> they sum to 1 and are prop. to 1/L_i
    assert math.isclose(sum(weights.values()), 1.0, rel_tol=1e-5)
    assert math.isclose(weights["a"] / weights["b"], vals["b"] / vals["a"], rel_tol=1e-4)
    expected = weights["a"] * g["a"] + weights["b"] * g["b"]
    assert torch.allclose(flat_grad(model.body.parameters()), expected, atol=1e-5)
    # a's loss keeps falling fast, b's barely: FAMO moves weight to b
    famo = make_weighting("famo", ["a", "b"], lr=0.05)
    la, lb = 1.0, 1.0
    for _ in range(50):
        la, lb = la * 0.8, lb * 0.99
        famo.update(torch.tensor([la / 0.8, lb / 0.99]), torch.tensor([la, lb]))
    z = torch.softmax(famo.logits, -1)
    assert z[1] > z[0] + 0.2


def test_rlw_draws_random_simplex_weights_reproducibly():
    rlw = make_weighting("rlw", ["a", "b", "c"])
    torch.manual_seed(0)
    draws = torch.stack([rlw.draw() for _ in range(4000)])
    assert (draws > 0).all() and torch.allclose(draws.sum(1), torch.ones(4000, dtype=draws.dtype))
    assert torch.allclose(draws.mean(0), torch.full((3,), 1 / 3, dtype=draws.dtype), atol=0.02)
    torch.manual_seed(0)
    assert torch.equal(rlw.draw(), draws[0])


@pytest.mark.parametrize("name", ["uncertainty", "dwa", "gradnorm", "famo"])
def test_stateful_strategies_resume_from_json_state(name):
    options = {"period": 2} if name == "dwa" else {}
    a, b = make_weighting(name, ["a", "b"], **options), make_weighting(name, ["a", "b"], **options)
    for step in range(5):
        model = TwoHeads()
        a(model.losses(X, {"a": 1.0 + step, "b": -1.0}), model)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    ma, mb = TwoHeads(), TwoHeads()
    wa = a(ma.losses(X, TARGETS), ma)
    wb = b(mb.losses(X, TARGETS), mb)
    assert wa == pytest.approx(wb)
    assert torch.allclose(flat_grad(ma.body.parameters()), flat_grad(mb.body.parameters()))
