"""The catalogue of wrong answers of exercise 05_sgd: each entry one mistake
students make, which must lose the points of the cells in ``loses``
with ``ziptie grade`` and with nbgrader alike (see ``catalogue``)."""

from catalogue import WrongAnswer

# PyTorch's momentum written as papers write it: v = mu v + lr g, w = w - v.
# The same steps while lr is constant; different ones once lr changes.
_PYTORCH_FORM = """\
                    if v is None:
                        v = self.velocity[i] = g.clone()
                    else:
                        v.mul_(self.momentum).add_(g)
                    g = v
"""
_LR_INSIDE_FORM = """\
                    if v is None:
                        v = self.velocity[i] = self.lr * g
                    else:
                        v.mul_(self.momentum).add_(self.lr * g)
                    p -= v
                    continue
"""
# A class that hands the work to torch.optim.SGD: exact, and not allowed.
_WRAPPER = """\
        if not hasattr(self, "_torch"):
            self._torch = torch.optim.SGD(self.params, lr=self.lr,
                                          momentum=self.momentum)
        self._torch.param_groups[0]["lr"] = self.lr
        self._torch.step()
        return
        with torch.no_grad():"""

WRONG_ANSWERS = [
    WrongAnswer("np.random.permutation instead of rng", cell="minibatches",
                old="order = rng.permutation(n)",
                new="order = np.random.permutation(n)",
                loses=("test_minibatches", "test_train_epoch")),
    WrongAnswer("no shuffling", cell="minibatches",
                old="order = rng.permutation(n)", new="order = np.arange(n)",
                loses=("test_minibatches",)),
    WrongAnswer("last partial batch always dropped", cell="minibatches",
                old="stop = n - n % batch_size if drop_last else n",
                new="stop = n - n % batch_size",
                loses=("test_minibatches",)),
    WrongAnswer("drop_last ignored", cell="minibatches",
                old="stop = n - n % batch_size if drop_last else n",
                new="stop = n", loses=("test_minibatches",)),
    WrongAnswer("momentum = 1 accepted", cell="SGD",
                old="0.0 <= momentum < 1.0", new="0.0 <= momentum <= 1.0",
                loses=("test_sgd_init",)),
    WrongAnswer("params kept as a generator", cell="SGD",
                old="self.params = list(params)", new="self.params = params",
                loses=("test_sgd_init",)),
    WrongAnswer("flipped sign", cell="SGD",
                old="p -= self.lr * g", new="p += self.lr * g",
                loses=("test_sgd_step", "test_sgd_momentum",
                       "test_digits_sgd")),
    WrongAnswer("None gradients not skipped", cell="SGD",
                old="if p.grad is None:", new="if False:",
                loses=("test_sgd_step", "test_sgd_momentum")),
    WrongAnswer("the other momentum form: v = mu v + lr g, w -= v",
                cell="SGD", old=_PYTORCH_FORM, new=_LR_INSIDE_FORM,
                loses=("test_sgd_momentum",)),
    WrongAnswer("dampened momentum: v = mu v + (1 - mu) g", cell="SGD",
                old="v.mul_(self.momentum).add_(g)",
                new="v.mul_(self.momentum).add_((1 - self.momentum) * g)",
                loses=("test_sgd_momentum",)),
    WrongAnswer("velocity computed but not stored", cell="SGD",
                old="v.mul_(self.momentum).add_(g)",
                new="v = self.momentum * v + g",
                loses=("test_sgd_momentum",)),
    WrongAnswer("velocity is p.grad itself (no copy)", cell="SGD",
                old="self.velocity[i] = g.clone()", new="self.velocity[i] = g",
                loses=("test_sgd_momentum",)),
    WrongAnswer("wraps torch.optim.SGD", cell="SGD",
                old="        with torch.no_grad():", new=_WRAPPER,
                loses=("test_sgd_step", "test_sgd_momentum",
                       "test_digits_sgd")),
    WrongAnswer("forgotten zero_grad", cell="train_epoch",
                old="optimizer.zero_grad()", new="pass",
                loses=("test_train_epoch",)),
    WrongAnswer("returns the last batch's loss", cell="train_epoch",
                old="return total / len(y)", new="return loss.item()",
                loses=("test_train_epoch",)),
    WrongAnswer("learning rate far too small", cell="train_digits",
                old="lr=0.1, momentum=0.9", new="lr=0.001",
                loses=("test_digits_sgd",)),
    WrongAnswer("trained with torch.optim.SGD", cell="train_digits",
                old="optimizer = SGD(", new="optimizer = torch.optim.SGD(",
                loses=("test_digits_sgd",)),
    WrongAnswer("zero_grad zeroes in place instead of setting None",
                cell="SGD", old="p.grad = None", new="p.grad.zero_()",
                loses=("test_sgd_step",)),
    WrongAnswer("update outside torch.no_grad()", cell="SGD",
                old="with torch.no_grad():", new="if True:",
                loses=("test_sgd_step", "test_sgd_momentum")),
    WrongAnswer("last, smaller batch weighted as a full one",
                cell="train_epoch",
                old="total += loss.item() * len(y_batch)",
                new="total += loss.item() * batch_size",
                loses=("test_train_epoch",)),
    WrongAnswer("zero_grad between backward and step", cell="train_epoch",
                old="optimizer.zero_grad()\n        loss.backward()",
                new="loss.backward()\n        optimizer.zero_grad()",
                loses=("test_train_epoch",)),
    WrongAnswer("lr = 0 refused", cell="SGD",
                old="if lr < 0:", new="if lr <= 0:",
                loses=("test_sgd_init",)),
    WrongAnswer("drop_last drops a full last batch (start + batch_size < n)",
                cell="minibatches",
                old="stop = n - n % batch_size if drop_last else n",
                new="stop = n - batch_size if drop_last else n",
                loses=("test_minibatches",)),
    WrongAnswer("velocity looked up by position among the parameters that "
                "have a gradient", cell="SGD",
                old="for i, p in enumerate(self.params):",
                new="for i, p in enumerate([q for q in self.params "
                    "if q.grad is not None]):",
                loses=("test_sgd_momentum",)),
    WrongAnswer("a missing gradient taken as zero (the velocity still moves "
                "the parameter)", cell="SGD",
                old="                if p.grad is None:\n"
                    "                    continue\n"
                    "                g = p.grad",
                new="                g = p.grad if p.grad is not None "
                    "else torch.zeros_like(p)",
                loses=("test_sgd_momentum",)),
    WrongAnswer("the velocity forgotten when a gradient is missing",
                cell="SGD",
                old="                if p.grad is None:\n"
                    "                    continue",
                new="                if p.grad is None:\n"
                    "                    self.velocity[i] = None\n"
                    "                    continue",
                loses=("test_sgd_momentum",)),
    WrongAnswer("the velocity made as torch.zeros(p.shape): float32, on the "
                "CPU", cell="SGD", old="v = self.velocity[i] = g.clone()",
                new="v = self.velocity[i] = torch.zeros(p.shape).add_(g)",
                loses=("test_sgd_momentum",)),
]
