import math

import pytest
import torch
from torch import nn

import ziptie
from ziptie import data
from ziptie.train import DivergenceError, History, accuracy, evaluate, fit


def _blobs():
    ziptie.seed(0)
    ds = data.load("blobs", n_samples=300, noise=0.8, as_tensor=True)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    return ds, model


def test_fit_learns_and_records_every_step():
    ds, model = _blobs()
    loader = data.batches(*ds.train, batch_size=30)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hist = fit(model, nn.functional.cross_entropy, opt, loader, epochs=5,
               val_data=ds.val, progress=False)
    assert len(hist.step["loss"]) == 5 * len(loader)
    assert hist.num_epochs == 5 and len(hist.epoch["val_accuracy"]) == 5
    assert hist.epoch["train_loss"][-1] < hist.epoch["train_loss"][0]
    assert hist.epoch["val_accuracy"][-1] > 0.9
    assert "epochs=5" in repr(hist)


def test_fit_is_repeatable_with_a_seed():
    def run():
        ds, model = _blobs()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        return fit(model, nn.functional.cross_entropy, opt,
                   data.batches(*ds.train, 32, seed=1), epochs=2,
                   progress=False).step["loss"]

    assert run() == run()


def test_train_loss_is_the_mean_over_examples():
    X = torch.ones(10, 1)
    y = torch.zeros(10, 1)
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.fill_(0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    hist = fit(model, nn.functional.mse_loss, opt,
               data.batches(X, y, 4), epochs=1, metrics={}, progress=False)
    assert hist.epoch["train_loss"] == [pytest.approx(1.0)]


def test_divergence_stops_with_a_clear_error_and_keeps_the_history():
    ds = data.load("regression", as_tensor=True)
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1e6)

    def loss_fn(pred, y):
        return nn.functional.mse_loss(pred[:, 0], y)

    with pytest.raises(DivergenceError, match="smaller learning rate") as info:
        fit(model, loss_fn, opt, data.batches(*ds.train, 16), epochs=50,
            metrics={}, progress=False)
    steps = info.value.history.step["loss"]
    assert not math.isfinite(steps[-1]) and all(map(math.isfinite, steps[:-1]))


def test_early_stopping_restores_the_best_weights():
    ds, model = _blobs()
    opt = torch.optim.SGD(model.parameters(), lr=2.0)  # noisy on purpose
    hist = fit(model, nn.functional.cross_entropy, opt,
               data.batches(*ds.train, 16), epochs=40, val_data=ds.val,
               patience=2, progress=False)
    best = hist.best_epoch
    assert best is not None
    assert hist.epoch["val_loss"][best] == min(hist.epoch["val_loss"])
    if hist.stopped_early:
        assert hist.num_epochs == best + 3
    again = evaluate(model, nn.functional.cross_entropy, ds.val)
    assert again["loss"] == pytest.approx(hist.epoch["val_loss"][best],
                                          rel=1e-5)


def test_scheduler_is_stepped_each_epoch():
    ds, model = _blobs()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    fit(model, nn.functional.cross_entropy, opt,
        data.batches(*ds.train, 64), epochs=3, scheduler=sched,
        progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.125)


def test_text_progress_goes_to_stdout(capsys):
    ds, model = _blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(model, nn.functional.cross_entropy, opt,
        data.batches(*ds.train, 30), epochs=1, progress="text")
    out = capsys.readouterr()
    assert "7/7" in out.out and "loss=" in out.out
    assert out.err == ""


def test_progress_from_environment(capsys, monkeypatch):
    monkeypatch.setenv("ZIPTIE_PROGRESS", "off")
    ds, model = _blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(model, nn.functional.cross_entropy, opt,
        data.batches(*ds.train, 30), epochs=1)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("kwargs,message", [
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"epochs": 1, "patience": 2}, "patience needs val_data"),
    ({"epochs": 1, "progress": "fancy"}, "progress must be"),
])
def test_bad_arguments(kwargs, message):
    ds, model = _blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=message):
        fit(model, nn.functional.cross_entropy, opt,
            data.batches(*ds.train, 30), **kwargs)


def test_accuracy_and_evaluate():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    y = torch.tensor([0, 1, 1])
    assert accuracy(logits, y) == pytest.approx(2 / 3)
    model = nn.Identity()
    batches = [(logits[:2], y[:2]), (logits[2:], y[2:])]
    result = evaluate(model, nn.functional.cross_entropy, batches)
    assert result["accuracy"] == pytest.approx(2 / 3)
    whole = nn.functional.cross_entropy(logits, y).item()
    assert result["loss"] == pytest.approx(whole)


def test_evaluate_needs_examples():
    with pytest.raises(ValueError, match="no examples"):
        evaluate(nn.Identity(), nn.functional.mse_loss, [])


def test_history_starts_empty():
    assert History().num_epochs == 0
