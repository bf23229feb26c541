"""The probe language of ``ziptie.grader.probe``, run through
``ziptie.grader.runner_probe`` in this process (the sandbox around it is
tested in test_sandbox.py)."""

import json
import sys

import numpy as np
import pytest

from ziptie.grader import runner_probe, tripwire
from ziptie.grader.probe import Probe, close, equal
from ziptie.grader.wire import from_json, ref

torch = pytest.importorskip("torch")
nn = torch.nn


def _run(probe: Probe, namespace: dict) -> list:
    """The probe as the grader sends it, and what comes back, as JSON."""
    job = json.loads(json.dumps(probe.to_job()))
    return from_json(json.loads(json.dumps(runner_probe._run_probe(
        namespace, job))))


def test_a_module_goes_in_with_its_weights_and_is_read_back(rng):
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2, bias=False))
    X = torch.from_numpy(rng.normal(size=(5, 3))).float()

    def scale(model, factor):
        with torch.no_grad():
            for p in model.parameters():
                p *= factor

    probe = (Probe().put(net).get("$0.0.weight").then("scale", ref(0), 2.0)
             .get("$1").then("$0", X).get("$0.2.bias"))
    values = _run(probe, {"scale": scale})
    before = net[0].weight.detach().numpy()
    assert np.array_equal(values[1], before)
    assert np.allclose(values[3], 2 * before)       # the same tensor, later
    with torch.no_grad():
        scale(net, 2.0)
        assert np.allclose(values[4], net(X).numpy(), atol=1e-6)
    assert values[5] is None


def test_a_tensor_goes_in_with_its_gradient_and_paths_index_lists(rng):
    w = torch.from_numpy(rng.normal(size=(2, 3))).requires_grad_()
    w.grad = torch.ones(2, 3, dtype=torch.float64)
    probe = (Probe().put([w, torch.zeros(2, requires_grad=True)])
             .get("$0.0.grad").get("$0.1.grad").get("$0.0.requires_grad")
             .keep("$0.__iter__").then("count", ref(4)))
    values = _run(probe, {"count": lambda it: sum(1 for _ in it)})
    assert values[1].tolist() == [[1.0] * 3] * 2 and values[1].dtype == float
    assert values[2] is None and values[3] is True and values[5] == 2


def test_a_generator_comes_back_as_a_list():
    model = nn.Linear(2, 3)
    values = _run(Probe.make("make").then("$0.parameters"),
                  {"make": lambda: model})
    assert [v.shape for v in values[1]] == [(3, 2), (3,)]


def _forbidden_run(name: str, names: list, namespace: dict, *args):
    """Run ``name(*args)`` as a probe that forbids ``names``; what it
    raised and the forbidden names it called."""
    job = json.loads(json.dumps(Probe.call(name, *args).forbid(*names)
                                .to_job()))
    hits: list = []
    forbidden = tripwire.Forbidden(job["forbid"])
    with pytest.raises(PermissionError) as raised:
        runner_probe._run_probe(namespace, job, forbidden, hits)
    assert sys.getprofile() is None        # the tripwire is gone afterwards
    return str(raised.value), hits


def test_forbidden_functions_are_caught_by_any_name():
    import torch.nn.functional as F
    from torch.nn.functional import cross_entropy as bound_early

    names = ["torch.nn.functional.cross_entropy", "torch.Tensor.log_softmax",
             "torch.logsumexp", "torch._C._nn.cross_entropy_loss",
             "torch.nn.functional.no_such_function", "no_such_module.f"]
    namespace = {
        "direct": lambda z, y: F.cross_entropy(z, y),
        "alias": lambda z, y: bound_early(z, y),
        "module": lambda z, y: nn.CrossEntropyLoss()(z, y),
        "private": lambda z, y: torch._C._nn.cross_entropy_loss(z, y),
        "method": lambda z, y: z.log_softmax(dim=1)[0, y[0]],
        "unbound": lambda z, y: torch.Tensor.log_softmax(z, 1)[0, y[0]],
        "function": lambda z, y: torch.logsumexp(z, 1),
        "honest": lambda z, y: (z - z.exp().sum(1, keepdim=True).log())
        [0, y[0]],
    }
    logits, y = torch.zeros(1, 3), torch.tensor([1])
    expected = {"direct": "torch.nn.functional.cross_entropy",
                "alias": "torch.nn.functional.cross_entropy",
                "module": "torch.nn.functional.cross_entropy",
                "private": "torch._C._nn.cross_entropy_loss",
                "method": "torch.Tensor.log_softmax",
                "unbound": "torch.Tensor.log_softmax",
                "function": "torch.logsumexp"}
    for name, want in expected.items():
        message, hits = _forbidden_run(name, names, namespace, logits, y)
        assert hits == [want] and want in message, name
    got = runner_probe._run_probe(namespace, Probe.call("honest", logits, y)
                                  .forbid(*names).to_job(),
                                  tripwire.Forbidden(names), [])
    assert from_json(got)[0] == pytest.approx(-np.log(3))
    assert F.cross_entropy(logits, y).item() == pytest.approx(np.log(3))


def test_close_compares_lists_item_by_item():
    want = (np.zeros((2, 3)), np.ones(3), [np.zeros(1), 2.0])
    got = [np.zeros((2, 3)), np.ones(3), [np.zeros(1), 2.0]]
    assert close(want)([got]) is None
    got[2][1] = 2.5
    assert close(want)([got]).startswith("[2][1]: expected 2")
    assert "expected 3 values, got 2" in close(want)([got[:2]])
    assert "shape (3,)" in close(want)([[got[0], np.ones(4), got[2]]])
    assert close([[1.0, 2.0]])([np.array([[1.0, 2.0]])]) is None


def test_close_names_the_furthest_entry_with_the_digits_that_differ():
    want = np.linspace(0, 1, 12).reshape(3, 4)
    got = want.copy()
    got[1, 2] += 4e-4
    got[0, 0] = 1e-5                      # outside the tolerance, by less
    assert close(want, rtol=1e-5, atol=1e-6)([got]) == (
        "an array of shape (3, 4): 2 of 12 entries differ, the furthest at "
        "[1, 2]: expected 0.545455, got 0.545855 (largest difference 0.0004)")
    # four digits would show two equal numbers
    assert close([0.1234567, 0.5])([np.array([0.1234609, 0.5])]) == (
        "expected [0.1235 0.5 ], got [0.1235 0.5 ]: 1 of 2 entries differ, "
        "the furthest at [0]: expected 0.1234567, got 0.1234609 (largest "
        "difference 4.2e-06)")
    assert close(0.1234567)([0.1234609]) == \
        "expected 0.1234567, got 0.1234609 (largest difference 4.2e-06)"
    # nan is the furthest of all, and has no difference
    assert close(np.ones(3))([np.array([1.0, np.nan, 5.0])]) == (
        "expected [1. 1. 1.], got [ 1. nan 5.]: 2 of 3 entries differ, the "
        "furthest at [1]: expected 1, got nan")
    # an int too large for a float is named, not a crash of the check
    assert close(1.0)([10 ** 400]).startswith(
        "expected numbers a float can hold, got 1000")
    # a tolerance entry by entry
    assert close(np.zeros(2), atol=np.array([1e-3, 0.0]))(
        [np.array([5e-4, 0.0])]) is None


def test_an_error_about_none_asks_for_the_missing_return():
    # the probe run by the runner's code, its result read by verdict's
    from nbgrader_bridge import reason

    class Layer:
        def __init__(self):
            self.training = True

        def eval(self):
            self.training = False       # and no `return self`

    probe = Probe.make("Layer").keep("$0.eval")
    probe.get("$1.training")
    probe.text = "Layer(), eval()"
    why = reason(probe, equal(False), {"Layer": Layer})
    assert why.startswith("Layer(), eval() raised AttributeError: "
                          "'NoneType' object has no attribute 'training'")
    assert why.endswith("(a function or method that ends without return "
                        "gives None; a layer's eval() and train() return "
                        "self)")
    Layer.eval = lambda self: setattr(self, "training", False) or self
    assert reason(probe, equal(False), {"Layer": Layer}) is None

    # any other error is left as it is
    def refuse(self):
        raise ValueError("no")

    Layer.eval = refuse
    assert reason(probe, equal(False), {"Layer": Layer}) == \
        "Layer(), eval() raised ValueError: no"


def test_only_known_modules_can_be_sent():
    with pytest.raises(TypeError, match="cannot send a Conv1d"):
        Probe().put(nn.Sequential(nn.Conv1d(1, 1, 1)))
    with pytest.raises(TypeError, match="cannot send a Linear"):
        Probe().put(nn.Linear(1, 1))
    with pytest.raises(ValueError, match="cannot build a layer 'Conv1d'"):
        runner_probe.decode({"$nn": [{"layer": "Conv1d"}]})


def test_set_catch_and_a_generator_in_its_state():
    class Box:
        lr = 1.0

    def take(rng, n):
        return rng.permutation(n)

    def picky(x):
        if x < 0:
            raise ValueError("negative")
        return x

    gen = np.random.default_rng(7)
    gen.permutation(3)                              # not a fresh state
    probe = (Probe().put(gen).then("take", ref(0), 5).then("take", ref(0), 5)
             .keep("Box").set("$3.lr", 0.5).get("$3.lr")
             .catch("picky", -1).catch("picky", 1))
    values = _run(probe, {"take": take, "Box": Box, "picky": picky})
    assert values[1].tolist() == gen.permutation(5).tolist()
    assert values[2].tolist() == gen.permutation(5).tolist()
    assert values[5] == 0.5
    assert values[6][:2] == ["ValueError", "Exception"] and values[7] is None
    with pytest.raises(NameError):      # a missing name is no answer
        _run(Probe().catch("nope"), {})


def test_a_classifier_is_measured_here_on_labels_never_sent(rng):
    from ziptie.grader.recipes import classifier

    X = torch.from_numpy(rng.normal(size=(20, 4))).float()

    class Mine:
        def __init__(self, params=(), lr=0.1):
            self.params, self.lr = list(params), lr

        def step(self):
            for p in self.params:
                p.data -= self.lr * p.grad

    class Theirs(torch.optim.SGD):
        pass

    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    with torch.no_grad():
        y = net(X).argmax(dim=1).numpy()      # the labels it gets right

    class Lookup(nn.Sequential):
        """Right answers behind the weights of another network."""

        def forward(self, X_sent):
            return torch.nn.functional.one_hot(torch.as_tensor(y), 3).float()

    probe, expect = classifier("Mine", 0.9, test=(X, y), classes=3)
    assert str(y.tolist()) not in json.dumps(probe.to_job())
    namespace = {"Mine": Mine, "optimizer": Mine(), "torch": torch,
                 "model": net}
    assert expect(_run(probe, namespace)) is None
    wrong = y.copy()
    wrong[-4:] = (wrong[-4:] + 1) % 3
    probe, expect = classifier("Mine", 0.9, test=(X, wrong), classes=3)
    assert "accuracy 0.800 on the grader's held-back digits is below 0.9" in expect(
        _run(probe, namespace))
    namespace["model"] = Lookup(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    assert "the network its weights describe" in expect(_run(probe,
                                                             namespace))
    namespace["model"] = nn.Sequential(nn.Linear(4, 5), nn.ReLU(),
                                       nn.Linear(5, 2))
    assert "ending in 3 logits" in expect(_run(probe, namespace))
    namespace["optimizer"] = object()
    assert "your own Mine" in expect(_run(probe, namespace))
    w = torch.zeros(1, requires_grad=True)
    namespace.update(Mine=Theirs, optimizer=Theirs([w], lr=0.1))
    assert "by hand" in expect(_run(probe, namespace))

    probe, _ = classifier("SGD", 0.95)       # the digits no notebook holds
    assert np.shape(probe.steps[-1]["args"][0]["$pt"]) == (300, 64)


def test_random_inputs_come_from_the_generator_given():
    import numpy as np
    import torch

    from ziptie.grader.recipes import random_linear, random_tensor

    a = random_tensor(np.random.default_rng(3), (2, 3))
    b = random_tensor(np.random.default_rng(3), (2, 3), torch.float32)
    assert a.dtype == torch.float64 and b.dtype == torch.float32
    torch.testing.assert_close(a.float(), b)
    layer = random_linear(np.random.default_rng(4), 5, 2)
    bound = 1 / np.sqrt(5)
    assert layer.weight.shape == (2, 5)
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    again = random_linear(np.random.default_rng(4), 5, 2)
    torch.testing.assert_close(layer.weight, again.weight)


def test_one_micro_batch_each_tells_micro_batches_from_the_whole_batch(rng):
    from ziptie.grader.recipes import one_micro_batch_each

    grads = [rng.normal(size=(3, 2)) for _ in range(3)]   # of 3 micro-batches
    whole = sum(grads) / 3
    # weighted as the student likes, in any order
    assert one_micro_batch_each([2 * grads[0], grads[1] / 3, 5 * grads[2]],
                                [grads])
    assert one_micro_batch_each([grads[2], grads[0], grads[1]], [grads])
    # the whole batch's gradient in pieces, nothing, or too few or many
    assert not one_micro_batch_each([whole / 3] * 3, [grads])
    assert not one_micro_batch_each([3 * whole, 0 * whole, 0 * whole],
                                    [grads])
    assert not one_micro_batch_each(grads[:2], [grads])
    assert not one_micro_batch_each(grads + [grads[0]], [grads])
    assert not one_micro_batch_each([grads[0], grads[0], grads[1]], [grads])
    # one way of several to cut the batch; a zero gradient matches a zero
    other = [rng.normal(size=(3, 2)), np.zeros((3, 2))]
    assert one_micro_batch_each([np.zeros((3, 2)), 4 * other[0]],
                                [grads, other])
    # what is not a list of arrays of the right shape
    assert not one_micro_batch_each(None, [grads])
    assert not one_micro_batch_each([g.T for g in grads], [grads])
    assert not one_micro_batch_each(
        [grads[0], grads[1], np.full((3, 2), np.nan)], [grads])
