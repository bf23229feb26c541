"""Exercise 06_adam: the solution
matches torch.optim.Adam and AdamW when called from outside the notebook (its
wrong answers are in grading/06_adam_wrong.py)."""

import pytest

import autograde

ASSIGNMENT = "06_adam"


@pytest.fixture(scope="module")
def solution():
    """The setup and optimizer cells of the source notebook, run in one
    namespace (not the digits training)."""
    return autograde.solution_namespace(ASSIGNMENT, skip=("train_digits",))


@pytest.mark.parametrize("settings", [
    {"lr": 0.01},
    {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-4, "weight_decay": 0.1},
])
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_matches_torch_optim(solution, torch_gen, settings, decoupled):
    import torch

    params = [torch.randn(s, generator=torch_gen, dtype=torch.float64)
              .requires_grad_() for s in [(3, 2), (5,)]]
    ref = [p.detach().clone().requires_grad_() for p in params]
    ours = solution["Adam"](params, **settings,
                            decoupled_weight_decay=decoupled)
    kind = torch.optim.AdamW if decoupled else torch.optim.Adam
    theirs = kind(ref, **{"weight_decay": 0.0, **settings})
    for _ in range(100):
        for p, r in zip(params, ref, strict=True):
            p.grad = torch.randn(p.shape, generator=torch_gen,
                                 dtype=torch.float64) * 0.01
            r.grad = p.grad.clone()
        ours.step()
        theirs.step()
    for p, r in zip(params, ref, strict=True):
        assert torch.allclose(p, r, rtol=1e-10, atol=1e-12)


def test_adamw_is_adam_with_decoupled_decay(solution):
    import torch

    w = torch.zeros(2, requires_grad=True)
    opt = solution["AdamW"]([w])
    assert isinstance(opt, solution["Adam"])
    assert opt.decoupled_weight_decay and opt.weight_decay == 0.01
