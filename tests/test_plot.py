import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from ziptie import plot  # noqa: E402
from ziptie.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history():
    hist = History()
    hist.epoch["train_loss"] += [1.0, 0.5, 0.25]
    hist.epoch["val_loss"] += [1.1, 0.6, 0.4]
    hist.epoch["val_accuracy"] += [0.5, 0.7, 0.9]
    hist.step["loss"] += [1.2, 1.0, 0.8, 0.7]
    return hist


def test_history_draws_every_loss_curve():
    ax = plot.history(_history())
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["training loss", "validation loss"]
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(),
                                  [1.1, 0.6, 0.4])
    assert ax.get_xlabel() == "epoch"


def test_history_per_step_and_chosen_keys():
    ax = plot.history(_history(), per_step=True, log=True)
    assert ax.get_xlabel() == "step" and ax.get_yscale() == "log"
    ax = plot.history(_history(), ["val_accuracy"])
    assert ax.get_ylabel() == "validation accuracy"
    assert plot.history(_history()).get_ylabel() == "value"
    assert plot.history(_history(), ylabel="").get_ylabel() == ""


def test_history_marks_the_best_epoch():
    hist = _history()
    hist.best_epoch = 1  # the second epoch, drawn at x = 2
    ax = plot.history(hist, mark_best=True)
    [best] = [line for line in ax.get_lines()
              if line.get_label().startswith("best epoch")]
    assert list(best.get_xdata()) == [2, 2]
    assert best.get_label() == "best epoch (2)"
    with pytest.raises(ValueError, match="needs a run with early stopping"):
        plot.history(_history(), mark_best=True)


def test_history_names_a_missing_curve():
    with pytest.raises(KeyError, match="No curve named 'val_f1'"):
        plot.history(_history(), ["val_f1"])


def test_decision_boundary_of_a_known_classifier():
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [-2.0, 1.0], [2.0, -1.0]])
    y = np.array([0, 1, 0, 1])

    def predict(points):  # class 1 right of x1 = 0
        return (points[:, 0] > 0).astype(int)

    ax = plot.decision_boundary(predict, X, y, resolution=50)
    regions = ax.collections[0]
    assert len(ax.collections) == 2  # filled regions and the points
    assert regions.get_array() is not None


def test_decision_boundary_calls_a_torch_model_with_tensors():
    model = nn.Linear(2, 3)
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    X = torch.randn(20, 2)
    plot.decision_boundary(model, X, torch.randint(0, 3, (20,)),
                           resolution=30)
    assert seen[0].shape == (900, 2) and seen[0].dtype == torch.float32


def test_decision_boundary_rejects_non_2d_inputs():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plot.decision_boundary(lambda p: p, np.zeros((4, 3)), np.zeros(4))


def test_loss_surface_with_paths():
    path = np.array([[-1.0, 1.0], [-0.5, 0.5], [0.0, 0.0]])
    fig, ax = plt.subplots()
    out = plot.loss_surface(lambda a, b: a ** 2 + 3 * b ** 2, (-2, 2),
                            (-2, 2), paths={"sgd": path}, ax=ax)
    assert out is ax
    drawn = [line for line in ax.get_lines() if line.get_label() == "sgd"]
    np.testing.assert_array_equal(drawn[0].get_xydata(), path)
    assert ax.get_xlim() == (-2, 2)
    assert ax.get_xlabel() == "$w_1$"


def test_loss_surface_names_the_parameters():
    ax = plot.loss_surface(lambda w, b: w ** 2 + b ** 2, (-1, 1), (-1, 1),
                           xlabel="w", ylabel="b")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("w", "b")


def test_loss_surface_log_scale_and_bad_path():
    rosenbrock = lambda a, b: (1 - a) ** 2 + 100 * (b - a ** 2) ** 2  # noqa: E731
    plot.loss_surface(rosenbrock, (-2, 2), (-1, 3), log=True)
    with pytest.raises(ValueError, match=r"shape \(steps, 2\)"):
        plot.loss_surface(rosenbrock, (-2, 2), (-1, 3),
                          paths={"bad": np.zeros((3, 3))})


def test_figures_save_headless(tmp_path):
    ax = plot.history(_history())
    ax.figure.savefig(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 1000
