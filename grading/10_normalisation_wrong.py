"""The catalogue of wrong answers of exercise 10_normalisation: each entry
one mistake students make, which must lose the points of the cells in
``loses`` with ``ziptie grade`` and with nbgrader alike (see
``catalogue``)."""

from catalogue import WrongAnswer

_UPDATE = """\
                self.running_mean = (1 - m) * self.running_mean + m * mean
                self.running_var = ((1 - m) * self.running_var
                                    + m * var * n / (n - 1))"""
_EVAL = """\
        else:
            mean, var = self.running_mean, self.running_var"""
_DX = ("    dx = (g - g.mean(dim=0) - x_hat * (g * x_hat).mean(dim=0)) "
       "/ std")

WRONG_ANSWERS = [
    # batch_norm
    WrongAnswer("unbiased variance (N - 1) when normalising",
                cell="batch_norm", old="correction=0", new="correction=1",
                loses=("test_batch_norm",)),
    WrongAnswer("eps added outside the square root", cell="batch_norm",
                old="torch.sqrt(var + eps)", new="(torch.sqrt(var) + eps)",
                loses=("test_batch_norm",)),
    WrongAnswer("eps left out", cell="batch_norm",
                old="torch.sqrt(var + eps)", new="torch.sqrt(var)",
                loses=("test_batch_norm",)),
    WrongAnswer("divided by the variance, not the standard deviation",
                cell="batch_norm", old="torch.sqrt(var + eps)",
                new="(var + eps)", loses=("test_batch_norm",)),
    WrongAnswer("each example normalised over its features (the wrong "
                "axis)", cell="batch_norm", old="dim=0",
                new="dim=1, keepdim=True", count=2,
                loses=("test_batch_norm",)),
    WrongAnswer("gamma and beta swapped", cell="batch_norm",
                old="return gamma * x_hat + beta",
                new="return beta * x_hat + gamma",
                loses=("test_batch_norm",)),
    WrongAnswer("the mean subtracted from x in place", cell="batch_norm",
                old="    x_hat = (x - mean) / torch.sqrt(var + eps)",
                new="    x -= mean\n    x_hat = x / torch.sqrt(var + eps)",
                loses=("test_batch_norm",)),
    WrongAnswer("hands the work to F.batch_norm", cell="batch_norm",
                old="    return gamma * x_hat + beta",
                new="    return F.batch_norm(x, None, None, gamma, beta, "
                    "training=True, eps=eps)",
                loses=("test_batch_norm",)),
    WrongAnswer("eps fixed at 1e-5: the argument ignored", cell="batch_norm",
                old="torch.sqrt(var + eps)", new="torch.sqrt(var + 1e-5)",
                loses=("test_batch_norm",)),
    # BatchNorm
    WrongAnswer("momentum convention reversed (the weight of the old "
                "running value)", cell="BatchNorm",
                old="m = self.momentum", new="m = 1 - self.momentum",
                loses=("test_batchnorm_layer",)),
    WrongAnswer("biased variance in running_var", cell="BatchNorm",
                old="m * var * n / (n - 1)", new="m * var",
                loses=("test_batchnorm_layer",)),
    WrongAnswer("unbiased variance when normalising in training mode",
                cell="BatchNorm", old="correction=0", new="correction=1",
                loses=("test_batchnorm_layer",)),
    WrongAnswer("running statistics never updated", cell="BatchNorm",
                old=_UPDATE, new="                pass",
                loses=("test_batchnorm_layer",)),
    WrongAnswer("running mean updated in eval mode too", cell="BatchNorm",
                old=_EVAL, new="""\
        else:
            m = self.momentum
            with torch.no_grad():
                self.running_mean = (1 - m) * self.running_mean + m * mean
            mean, var = self.running_mean, self.running_var""",
                loses=("test_batchnorm_layer",)),
    WrongAnswer("eval mode normalises with the batch's statistics",
                cell="BatchNorm",
                old="            mean, var = self.running_mean, "
                    "self.running_var",
                new="            pass", loses=("test_batchnorm_layer",)),
    WrongAnswer("the mode ignored: training behaviour in eval mode too",
                cell="BatchNorm",
                old="        if self.training:\n            m = self.momentum",
                new="        if True:\n            m = self.momentum",
                loses=("test_batchnorm_layer",)),
    WrongAnswer("running_var starts at zeros", cell="BatchNorm",
                old="self.running_var = torch.ones(num_features)",
                new="self.running_var = torch.zeros(num_features)",
                loses=("test_batchnorm_layer",)),
    WrongAnswer("a batch of one accepted in training mode",
                cell="BatchNorm", old="if self.training and n < 2:",
                new="if self.training and n < 1:",
                loses=("test_batchnorm_layer",)),
    WrongAnswer("gamma and beta never applied", cell="BatchNorm",
                old="return self.weight * x_hat + self.bias",
                new="return x_hat", loses=("test_batchnorm_layer",)),
    WrongAnswer("gamma and beta without requires_grad", cell="BatchNorm",
                old="torch.ones(num_features, requires_grad=True)",
                new="torch.ones(num_features)",
                loses=("test_batchnorm_layer",)),
    WrongAnswer("running statistics updated inside the autograd graph",
                cell="BatchNorm", old="            with torch.no_grad():\n",
                new="            if True:\n",
                loses=("test_batchnorm_layer",)),
    WrongAnswer("the batch's mean and variance detached when normalising",
                cell="BatchNorm", old="""\
        mean = x.mean(dim=0)
        var = x.var(dim=0, correction=0)
""", new="""\
        mean = x.mean(dim=0).detach()
        var = x.var(dim=0, correction=0).detach()
""", loses=("test_batchnorm_layer",)),
    WrongAnswer("the training batch normalised with the running statistics "
                "just updated", cell="BatchNorm", old=_EVAL,
                new="        mean, var = self.running_mean, self.running_var",
                loses=("test_batchnorm_layer",)),
    WrongAnswer("train(mode) ignores its argument (eval() on its own)",
                cell="BatchNorm", old="""\
        self.training = mode
        return self

    def eval(self):
        return self.train(False)""", new="""\
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self""", loses=("test_batchnorm_layer",)),
    WrongAnswer("eval() returns None, not the layer", cell="BatchNorm",
                old="        return self.train(False)",
                new="        self.train(False)",
                loses=("test_batchnorm_layer",)),
    # layer_norm
    WrongAnswer("layer norm over the batch (dim 0)", cell="layer_norm",
                old="dim=-1", new="dim=0", count=2,
                loses=("test_layer_norm",)),
    WrongAnswer("unbiased variance in layer norm", cell="layer_norm",
                old="correction=0", new="correction=1",
                loses=("test_layer_norm",)),
    WrongAnswer("layer norm: eps outside the square root",
                cell="layer_norm", old="torch.sqrt(var + eps)",
                new="(torch.sqrt(var) + eps)", loses=("test_layer_norm",)),
    WrongAnswer("keepdim forgotten: the statistics broadcast along the "
                "wrong axis", cell="layer_norm", old="keepdim=True",
                new="keepdim=False", count=2, loses=("test_layer_norm",)),
    WrongAnswer("layer norm over all but the first dimension",
                cell="layer_norm", old="""\
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, correction=0, keepdim=True)""", new="""\
    dims = tuple(range(1, x.dim())) or (0,)
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, correction=0, keepdim=True)""",
                loses=("test_layer_norm",)),
    # batch_norm_backward
    WrongAnswer("dx without the term through the mean",
                cell="batch_norm_backward",
                old="g - g.mean(dim=0) - x_hat", new="g - x_hat",
                loses=("test_batch_norm_backward",)),
    WrongAnswer("dx without the term through the variance",
                cell="batch_norm_backward", old=_DX,
                new="    dx = (g - g.mean(dim=0)) / std",
                loses=("test_batch_norm_backward",)),
    WrongAnswer("dx as if mean and variance were constants",
                cell="batch_norm_backward", old=_DX,
                new="    dx = g / std",
                loses=("test_batch_norm_backward",)),
    WrongAnswer("dx without gamma", cell="batch_norm_backward",
                old="g = dout * gamma", new="g = dout",
                loses=("test_batch_norm_backward",)),
    WrongAnswer("dgamma without x_hat (the sum of dout)",
                cell="batch_norm_backward",
                old="dgamma = (dout * x_hat).sum(dim=0)",
                new="dgamma = dout.sum(dim=0)",
                loses=("test_batch_norm_backward",)),
    WrongAnswer("dbeta summed over the features", cell="batch_norm_backward",
                old="dbeta = dout.sum(dim=0)", new="dbeta = dout.sum(dim=1)",
                loses=("test_batch_norm_backward",)),
    WrongAnswer("dx by autograd", cell="batch_norm_backward", old=_DX,
                new="""\
    x_ = x.detach().clone().requires_grad_()
    y_ = gamma * (x_ - x_.mean(dim=0)) / torch.sqrt(
        x_.var(dim=0, correction=0) + eps)
    (dx,) = torch.autograd.grad(y_, x_, dout)""",
                loses=("test_batch_norm_backward",)),
    WrongAnswer("dgamma with x, not x_hat", cell="batch_norm_backward",
                old="dgamma = (dout * x_hat).sum(dim=0)",
                new="dgamma = (dout * x).sum(dim=0)",
                loses=("test_batch_norm_backward",)),
]
