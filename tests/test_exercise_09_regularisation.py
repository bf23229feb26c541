"""Exercise 09_regularisation: the solution computes what PyTorch and
scikit-learn compute, when called from outside the notebook (its wrong
answers are in grading/09_regularisation_wrong.py)."""

import copy

import numpy as np
import pytest

import autograde

ASSIGNMENT = "09_regularisation"


@pytest.fixture(scope="module")
def solution():
    """The setup and solution cells of the source notebook, run in one
    namespace."""
    return autograde.solution_namespace(ASSIGNMENT)


def _net(torch_gen, bias_last=True):
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(),
                              torch.nn.Linear(8, 3, bias=bias_last)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=torch_gen,
                                      dtype=torch.float64))
    return net


@pytest.mark.parametrize("bias_last", [True, False])
def test_l2_penalty_in_the_loss_is_sgds_weight_decay_on_the_weights(
        solution, torch_gen, bias_last):
    """Three SGD steps on loss + penalty(model, "l2", lam) take the steps
    of torch.optim.SGD with weight_decay=lam on the weights only."""
    import torch

    net = _net(torch_gen, bias_last)
    ours, theirs = copy.deepcopy(net), copy.deepcopy(net)
    lam, lr = 0.3, 0.1
    weights = [p for n, p in theirs.named_parameters() if "weight" in n]
    biases = [p for n, p in theirs.named_parameters() if "bias" in n]
    opt_ours = torch.optim.SGD(ours.parameters(), lr=lr)
    opt_theirs = torch.optim.SGD([{"params": weights, "weight_decay": lam},
                                  {"params": biases}], lr=lr)
    loss_fn = torch.nn.MSELoss()
    for _ in range(3):
        X = torch.randn(12, 5, generator=torch_gen, dtype=torch.float64)
        y = torch.randn(12, 3, generator=torch_gen, dtype=torch.float64)
        loss = loss_fn(ours(X), y) + solution["penalty"](ours, "l2", lam)
        opt_ours.zero_grad()
        loss.backward()
        opt_ours.step()
        opt_theirs.zero_grad()
        loss_fn(theirs(X), y).backward()
        opt_theirs.step()
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


def test_l1_penalty_is_the_sum_of_absolute_weights(solution, torch_gen):
    import torch

    net = _net(torch_gen)
    got = solution["penalty"](net, "l1", 0.7)
    want = 0.7 * sum(torch.linalg.vector_norm(p, 1)
                     for n, p in net.named_parameters() if "weight" in n)
    torch.testing.assert_close(got, want)
    got.backward()
    for n, p in net.named_parameters():
        if "weight" in n:
            torch.testing.assert_close(p.grad, 0.7 * torch.sign(p))
        else:
            assert p.grad is None


def _steps(optimizer, params, grads):
    for step in grads:
        for p, g in zip(params, step, strict=True):
            p.grad = g.clone()
        optimizer.step()


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_coupled_decay_is_torch_optim_sgd(solution, torch_gen, momentum):
    import torch

    params = [torch.randn(s, generator=torch_gen, dtype=torch.float64,
                          requires_grad=True) for s in [(3, 4), (5,), ()]]
    copies = [p.detach().clone().requires_grad_() for p in params]
    grads = [[torch.randn(p.shape, generator=torch_gen, dtype=torch.float64)
              for p in params] for _ in range(15)]
    _steps(solution["SGD"](params, lr=0.05, momentum=momentum,
                           weight_decay=0.4), params, grads)
    _steps(torch.optim.SGD(copies, lr=0.05, momentum=momentum,
                           weight_decay=0.4), copies, grads)
    for p, q in zip(params, copies, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


def test_decoupled_decay_alone_is_adamws(solution, torch_gen):
    """With no gradient from the data, AdamW's step is its decay alone."""
    import torch

    params = [torch.randn(4, 3, generator=torch_gen, dtype=torch.float64,
                          requires_grad=True)]
    copies = [params[0].detach().clone().requires_grad_()]
    grads = [[torch.zeros(4, 3, dtype=torch.float64)]] * 12
    _steps(solution["SGD"](params, lr=0.2, momentum=0.9, weight_decay=0.3,
                           decoupled=True), params, grads)
    _steps(torch.optim.AdamW(copies, lr=0.2, weight_decay=0.3), copies,
           grads)
    torch.testing.assert_close(params[0], copies[0], rtol=1e-12, atol=1e-14)


def test_decoupled_differs_from_coupled_only_with_momentum(solution,
                                                           torch_gen):
    import torch

    def run(momentum, decoupled):
        w = torch.ones(6, dtype=torch.float64, requires_grad=True)
        g = torch.Generator().manual_seed(1)
        grads = [[torch.randn(6, generator=g, dtype=torch.float64)]
                 for _ in range(10)]
        _steps(solution["SGD"]([w], lr=0.1, momentum=momentum,
                               weight_decay=0.5, decoupled=decoupled),
               [w], grads)
        return w.detach()

    torch.testing.assert_close(run(0.0, False), run(0.0, True))
    assert (run(0.9, False) - run(0.9, True)).abs().max() > 1e-3


def test_dropout_is_torchs_from_the_same_state(solution, rng):
    import torch

    dropout = solution["dropout"]
    for _ in range(20):
        shape = tuple(int(s) for s in rng.integers(1, 7, size=rng.integers(
            1, 4)))
        p = float(rng.choice([0.0, 1.0, rng.uniform(0.05, 0.95)]))
        dtype = torch.float64 if rng.random() < 0.5 else torch.float32
        X = torch.from_numpy(rng.normal(size=shape)).to(dtype)
        kept = X.clone()
        seed = int(rng.integers(2**31))
        torch.manual_seed(seed)
        want = torch.nn.functional.dropout(X, p, training=True)
        torch.manual_seed(seed)
        mask = torch.nn.functional.dropout(torch.ones_like(X), p) != 0
        got = dropout(X, p, mask, training=True)
        assert got.dtype == dtype and got.shape == X.shape
        torch.testing.assert_close(got, want)
        got = dropout(X, p, mask, training=False)
        torch.testing.assert_close(
            got, torch.nn.functional.dropout(X, p, training=False))
        assert torch.equal(X, kept)


def test_early_stopping_agrees_with_fit(solution, torch_gen):
    """ziptie.train.fit stops and restores with the same rule: replaying
    its validation losses gives its stopping epoch and best epoch."""
    import torch

    import ziptie

    for _ in range(10):     # a draw where training on 8 points overfits
        X = torch.randn(40, 5, generator=torch_gen, dtype=torch.float64)
        y = X[:, :3] + 0.5 * torch.randn(40, 3, generator=torch_gen,
                                         dtype=torch.float64)
        model = _net(torch_gen)
        history = ziptie.train.fit(
            model, torch.nn.MSELoss(), torch.optim.SGD(model.parameters(),
                                                       lr=0.5),
            ziptie.data.batches(X[:8], y[:8], batch_size=8), epochs=200,
            val_data=(X[8:], y[8:]), metrics={}, patience=4, progress=False)
        if history.stopped_early:
            break
    assert history.stopped_early
    stopper = solution["EarlyStopping"](patience=4)
    said = [stopper.step(loss, model) for loss in history.epoch["val_loss"]]
    assert said == [False] * (len(said) - 1) + [True]
    assert stopper.best_epoch == history.best_epoch + 1


def test_early_stopping_keeps_a_copy_of_the_best_weights(solution,
                                                         torch_gen):
    import torch

    model = _net(torch_gen)
    stopper = solution["EarlyStopping"](patience=3, min_delta=0.1)
    saved = {}
    for epoch, loss in enumerate([1.0, 0.8, 0.75, 0.72, 0.71], start=1):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)                       # training, in place
        saved[epoch] = copy.deepcopy(model.state_dict())
        stop = stopper.step(loss, model)
    assert stop and stopper.best_epoch == 2 and stopper.best_loss == 0.8
    stopper.restore(model)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, saved[2][name])


def test_kfold_is_sklearns(solution, rng):
    from sklearn.model_selection import KFold

    for _ in range(40):
        k = int(rng.integers(2, 8))
        n = int(rng.integers(k, 60))
        shuffle = bool(rng.integers(2))
        seed = int(rng.integers(10**6))
        got = solution["kfold"](n, k, shuffle=shuffle, seed=seed)
        want = KFold(k, shuffle=shuffle,
                     random_state=seed if shuffle else None).split(
            np.arange(n))
        for (train, valid), (t, v) in zip(got, want, strict=True):
            assert list(train) == t.tolist() and list(valid) == v.tolist()
        folds = [i for _, valid in got for i in valid]
        assert sorted(folds) == list(range(n))
