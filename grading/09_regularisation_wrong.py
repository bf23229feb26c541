"""The catalogue of wrong answers of exercise 09_regularisation: each entry
one mistake students make, which must lose the points of the cells in
``loses`` with ``ziptie grade`` and with nbgrader alike (see
``catalogue``)."""

from catalogue import WrongAnswer

_WEIGHTS = """\
    weights = [p for name, p in model.named_parameters()
               if name.endswith("weight")]"""
_L2 = "return lam / 2 * sum(w.pow(2).sum() for w in weights)"
_L1 = "return lam * sum(w.abs().sum() for w in weights)"
_COUPLED = """\
                if self.weight_decay and not self.decoupled:
                    g = g + self.weight_decay * w
"""
_DECOUPLED = """\
                if self.weight_decay and self.decoupled:
                    w.mul_(1 - self.lr * self.weight_decay)
                w.sub_(self.lr * g)"""
_STEP = _COUPLED + """\
                if self.momentum:
                    if k in self.buffers:
                        g = self.buffers[k] = self.momentum * self.buffers[k] + g
                    else:
                        g = self.buffers[k] = g.clone()
""" + _DECOUPLED
_IMPROVES = "if val_loss < self.best_loss - self.min_delta:"
_SIZES = "sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]"
_SPLIT = """\
        valid = sorted(order[start:start + size])
        train = sorted(order[:start] + order[start + size:])"""

WRONG_ANSWERS = [
    # penalty
    WrongAnswer("the biases penalised too", cell="penalty", old=_WEIGHTS,
                new="    weights = list(model.parameters())",
                loses=("test_penalty",)),
    WrongAnswer("L2 without the factor 1/2", cell="penalty", old=_L2,
                new="return lam * sum(w.pow(2).sum() for w in weights)",
                loses=("test_penalty",)),
    WrongAnswer("L1 with a factor 1/2", cell="penalty", old=_L1,
                new="return lam / 2 * sum(w.abs().sum() for w in weights)",
                loses=("test_penalty",)),
    WrongAnswer("L2 as the norm, not its square", cell="penalty", old=_L2,
                new="return lam / 2 * sum(w.pow(2).sum() for w in "
                    "weights).sqrt()",
                loses=("test_penalty",)),
    WrongAnswer("the mean over the weights, not the sum", cell="penalty",
                old=_L2,
                new="return lam / 2 * sum(w.pow(2).mean() for w in weights)",
                loses=("test_penalty",)),
    WrongAnswer("L1 without the absolute value", cell="penalty", old=_L1,
                new="return lam * sum(w.sum() for w in weights)",
                loses=("test_penalty",)),
    WrongAnswer("a float: .item() cuts it off from autograd",
                cell="penalty", old=_L2,
                new="return lam / 2 * sum(w.pow(2).sum().item() for w in "
                    "weights)",
                loses=("test_penalty",)),
    WrongAnswer("the weights detached", cell="penalty", old=_WEIGHTS,
                new="""\
    weights = [p.detach() for name, p in model.named_parameters()
               if name.endswith("weight")]""",
                loses=("test_penalty",)),
    WrongAnswer("only the first layer's weights", cell="penalty",
                old=_WEIGHTS, new="    weights = [model[0].weight]",
                loses=("test_penalty",)),
    WrongAnswer("every other parameter taken for a weight (as if every "
                "layer had a bias)", cell="penalty", old=_WEIGHTS,
                new="    weights = list(model.parameters())[::2]",
                loses=("test_penalty",)),
    WrongAnswer("L1 by torch.linalg.norm(w, 1): a matrix norm, not the "
                "sum", cell="penalty", old=_L1,
                new="return lam * sum(torch.linalg.norm(w, 1) for w in "
                    "weights)",
                loses=("test_penalty",)),
    # SGD
    WrongAnswer("coupled decay after the step, with the new weight",
                cell="SGD", old=_STEP, new=_STEP.replace(_COUPLED, "")
                + "\n                if self.weight_decay and not "
                  "self.decoupled:\n"
                  "                    w.sub_(self.lr * self.weight_decay "
                  "* w)", loses=("test_sgd_decay",)),
    WrongAnswer("decoupled decay without the learning rate", cell="SGD",
                old="w.mul_(1 - self.lr * self.weight_decay)",
                new="w.mul_(1 - self.weight_decay)",
                loses=("test_sgd_decay",)),
    WrongAnswer("decoupled decay after the gradient step", cell="SGD",
                old=_DECOUPLED, new="""\
                w.sub_(self.lr * g)
                if self.weight_decay and self.decoupled:
                    w.mul_(1 - self.lr * self.weight_decay)""",
                loses=("test_sgd_decay",)),
    WrongAnswer("decoupled decay also added to the gradient", cell="SGD",
                old="if self.weight_decay and not self.decoupled:",
                new="if self.weight_decay:", loses=("test_sgd_decay",)),
    WrongAnswer("decoupled=True decays nothing", cell="SGD",
                old=_DECOUPLED, new="                w.sub_(self.lr * g)",
                loses=("test_sgd_decay",)),
    WrongAnswer("decoupled ignored: always the L2 penalty's gradient",
                cell="SGD", old=_STEP, new=_STEP.replace(
                    "if self.weight_decay and not self.decoupled:",
                    "if self.weight_decay:").replace(
                    "                if self.weight_decay and "
                    "self.decoupled:\n"
                    "                    w.mul_(1 - self.lr * "
                    "self.weight_decay)\n", ""),
                loses=("test_sgd_decay",)),
    WrongAnswer("the decay added to .grad in place", cell="SGD",
                old="g = g + self.weight_decay * w",
                new="g = g.add_(self.weight_decay * w)",
                loses=("test_sgd_decay",)),
    WrongAnswer("the momentum buffer shares .grad's memory", cell="SGD",
                old="g = self.buffers[k] = g.clone()",
                new="g = self.buffers[k] = g", loses=("test_sgd_decay",)),
    WrongAnswer("decoupled decay also of parameters without a gradient",
                cell="SGD", old="""\
                if w.grad is None:
                    continue
""", new="""\
                if self.weight_decay and self.decoupled:
                    w.mul_(1 - self.lr * self.weight_decay)
                if w.grad is None:
                    continue
""", loses=("test_sgd_decay",)),
    WrongAnswer("params kept as given: a generator runs out", cell="SGD",
                old="self.params = list(params)", new="self.params = params",
                loses=("test_sgd_decay",)),
    # dropout
    WrongAnswer("dropout not scaled", cell="dropout",
                old="return X * mask / (1 - p)", new="return X * mask",
                loses=("test_dropout",)),
    WrongAnswer("the old convention: not scaled in training, times 1 - p "
                "at evaluation", cell="dropout", old="""\
    if not training:
        return X.clone()
    if p == 1:
        return torch.zeros_like(X)
    return X * mask / (1 - p)""", new="""\
    if not training:
        return X * (1 - p)
    return X * mask""", loses=("test_dropout",)),
    WrongAnswer("dropout active in evaluation mode", cell="dropout",
                old="""\
    if not training:
        return X.clone()
""", new="", loses=("test_dropout",)),
    WrongAnswer("divided by p, not by 1 - p", cell="dropout",
                old="return X * mask / (1 - p)", new="return X * mask / p",
                loses=("test_dropout",)),
    WrongAnswer("the mask read the wrong way round: True dropped",
                cell="dropout", old="return X * mask / (1 - p)",
                new="return X * ~mask / (1 - p)", loses=("test_dropout",)),
    WrongAnswer("X changed in place", cell="dropout",
                old="return X * mask / (1 - p)",
                new="return X.mul_(mask).div_(1 - p)",
                loses=("test_dropout",)),
    WrongAnswer("p = 1 divides by zero", cell="dropout", old="""\
    if p == 1:
        return torch.zeros_like(X)
""", new="", loses=("test_dropout",)),
    WrongAnswer("draws its own mask, not the one given", cell="dropout",
                old="return X * mask / (1 - p)",
                new="return X * (torch.rand_like(X) >= p) / (1 - p)",
                loses=("test_dropout",)),
    # EarlyStopping
    WrongAnswer("patience off by one: stops a step late",
                cell="EarlyStopping",
                old="return self.waited >= self.patience",
                new="return self.waited > self.patience",
                loses=("test_early_stopping",)),
    WrongAnswer("keeps the last weights, not the best",
                cell="EarlyStopping",
                old="        else:\n            self.waited += 1\n",
                new="        else:\n            self.waited += 1\n"
                    "            self.best_state = copy.deepcopy("
                    "model.state_dict())\n",
                loses=("test_early_stopping",)),
    WrongAnswer("state_dict() kept without a copy", cell="EarlyStopping",
                old="self.best_state = copy.deepcopy(model.state_dict())",
                new="self.best_state = model.state_dict()",
                loses=("test_early_stopping",)),
    WrongAnswer("a tie counts as an improvement", cell="EarlyStopping",
                old=_IMPROVES,
                new="if val_loss <= self.best_loss - self.min_delta:",
                loses=("test_early_stopping",)),
    WrongAnswer("min_delta ignored", cell="EarlyStopping", old=_IMPROVES,
                new="if val_loss < self.best_loss:",
                loses=("test_early_stopping",)),
    WrongAnswer("the wait not reset by an improvement",
                cell="EarlyStopping",
                old="            self.waited = 0\n", new="",
                loses=("test_early_stopping",)),
    WrongAnswer("epochs counted from 0", cell="EarlyStopping",
                old="self.best_epoch = self.epoch",
                new="self.best_epoch = self.epoch - 1",
                loses=("test_early_stopping",)),
    WrongAnswer("min_delta as a share of the best loss", cell="EarlyStopping",
                old=_IMPROVES,
                new="if val_loss < self.best_loss * (1 - self.min_delta):",
                loses=("test_early_stopping",)),
    WrongAnswer("an improvement measured from the last loss, not the best",
                cell="EarlyStopping", old=_IMPROVES,
                new='last, self.last = getattr(self, "last", math.inf), '
                    'val_loss\n'
                    "        if val_loss < last - self.min_delta:",
                loses=("test_early_stopping",)),
    # kfold
    WrongAnswer("the remainder left out: folds of n // k", cell="kfold",
                old=_SIZES, new="sizes = [n // k] * k",
                loses=("test_kfold",)),
    WrongAnswer("the remainder all in the last fold", cell="kfold",
                old=_SIZES,
                new="sizes = [n // k] * (k - 1) + [n - (k - 1) * (n // k)]",
                loses=("test_kfold",)),
    WrongAnswer("folds of ceil(n / k): the last ones short", cell="kfold",
                old=_SIZES,
                new="sizes = [min(-(-n // k), n - i * -(-n // k)) "
                    "for i in range(k)]",
                loses=("test_kfold",)),
    WrongAnswer("overlapping folds: each one example too long",
                cell="kfold", old=_SPLIT, new="""\
        valid = sorted(order[start:start + size + 1])
        train = sorted(order[:start] + order[start + size + 1:])""",
                loses=("test_kfold",)),
    WrongAnswer("the validation fold also in the training indices",
                cell="kfold",
                old="train = sorted(order[:start] + order[start + size:])",
                new="train = sorted(order)", loses=("test_kfold",)),
    WrongAnswer("shuffled with NumPy's new generator, not RandomState",
                cell="kfold",
                old="np.random.RandomState(seed).permutation(n)",
                new="np.random.default_rng(seed).permutation(n)",
                loses=("test_kfold",)),
    WrongAnswer("indices in the shuffled order, not sorted", cell="kfold",
                old=_SPLIT, new="""\
        valid = order[start:start + size]
        train = order[:start] + order[start + size:]""",
                loses=("test_kfold",)),
    WrongAnswer("fold boundaries at int(i * n / k)", cell="kfold",
                old=_SIZES,
                new="sizes = [int((i + 1) * n / k) - int(i * n / k) "
                    "for i in range(k)]",
                loses=("test_kfold",)),
    WrongAnswer("the first epoch only records its loss: its weights are not "
                "kept", cell="EarlyStopping",
                old="        self.epoch += 1\n",
                new="        self.epoch += 1\n"
                    "        if self.epoch == 1:\n"
                    "            self.best_loss = val_loss\n"
                    "            self.best_epoch = 1\n"
                    "            return False\n",
                loses=("test_early_stopping",)),
]
