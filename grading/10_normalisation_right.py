"""Correct answers of exercise 10_normalisation written as students write
them, unlike the solution: each must keep every point (see ``catalogue``
and ``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole
cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # batch_norm
    RightAnswer("a loop over the features, float64 inside", cell="batch_norm",
                old=None, new='''
def batch_norm(x, gamma, beta, eps=1e-5):
    n = x.shape[0]
    out = torch.empty_like(x)
    for c in range(x.shape[1]):
        column = x[:, c].double()
        mu = column.sum() / n
        var = ((column - mu) ** 2).sum() / n
        y = gamma[c] * (column - mu) / (var + eps) ** 0.5 + beta[c]
        out[:, c] = y.to(x.dtype)
    return out
'''),
    RightAnswer("torch.var_mean and rsqrt", cell="batch_norm", old=None,
                new='''
def batch_norm(x, gamma, beta, eps=1e-5):
    var, mean = torch.var_mean(x, dim=0, unbiased=False)
    return (x - mean) * torch.rsqrt(var + eps) * gamma + beta
'''),
    RightAnswer("the unbiased variance, times (N - 1) / N", cell="batch_norm",
                old=None, new='''
def batch_norm(x, gamma, beta, eps=1e-5):
    n = len(x)
    variance = x.var(0) * (n - 1) / n
    centred = x - x.mean(0, keepdim=True)
    return gamma * centred / (variance + eps).sqrt() + beta
'''),
    RightAnswer("E[x^2] - E[x]^2, keepdim", cell="batch_norm", old=None,
                new='''
def batch_norm(x, gamma, beta, eps=1e-5):
    mu = x.mean(0, keepdim=True)
    var = (x * x).mean(0, keepdim=True) - mu * mu
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta
'''),
    # BatchNorm
    RightAnswer("an nn.Module with Parameters and buffers, updated in place",
                cell="BatchNorm", old=None, new='''
class BatchNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            if x.shape[0] == 1:
                raise ValueError("a batch of one in training mode")
            mean = x.mean(0)
            var = x.var(0, unbiased=False)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(
                    self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(
                    self.momentum * x.var(0, unbiased=True))
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight \\
            + self.bias
'''),
    RightAnswer("float64 state, detached statistics, batch_norm reused",
                cell="BatchNorm", old=None, new='''
class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps, self.momentum = eps, momentum
        self.weight = torch.ones(num_features,
                                 dtype=torch.float64).requires_grad_()
        self.bias = torch.zeros(num_features,
                                dtype=torch.float64).requires_grad_()
        self.running_mean = torch.zeros(num_features, dtype=torch.float64)
        self.running_var = torch.ones(num_features, dtype=torch.float64)
        self.training = True

    def train(self, mode=True):
        self.training = bool(mode)
        return self

    def eval(self):
        self.training = False
        return self

    def forward(self, x):
        if not self.training:
            x_hat = (x - self.running_mean) / (
                self.running_var + self.eps).sqrt()
            return self.weight * x_hat + self.bias
        n = len(x)
        if n <= 1:
            raise ValueError(f"need more than one example, got {n}")
        seen = x.detach()
        self.running_mean = (self.momentum * seen.mean(0)
                             + (1 - self.momentum) * self.running_mean)
        self.running_var = (self.momentum * seen.var(0)
                            + (1 - self.momentum) * self.running_var)
        return batch_norm(x, self.weight, self.bias, self.eps)

    __call__ = forward
'''),
    RightAnswer("an nn.Module, running statistics as plain detached tensors",
                cell="BatchNorm", old=None, new='''
class BatchNorm(torch.nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = torch.nn.Parameter(torch.ones(num_features))
        self.bias = torch.nn.Parameter(torch.zeros(num_features))
        self.running_mean = torch.zeros(num_features)
        self.running_var = torch.ones(num_features)

    def forward(self, x):
        if not self.training:
            mean, var = self.running_mean, self.running_var
        else:
            if len(x) < 2:
                raise ValueError("batch of one")
            mean = x.mean(0)
            var = ((x - mean) ** 2).mean(0)
            n = len(x)
            self.running_mean = self.running_mean + self.momentum * (
                mean.detach() - self.running_mean)
            self.running_var = self.running_var + self.momentum * (
                var.detach() * n / (n - 1) - self.running_var)
        return self.weight * (x - mean) / (var + self.eps).sqrt() + self.bias
'''),
    # layer_norm
    RightAnswer("a loop over the rows of a reshaped x", cell="layer_norm",
                old=None, new='''
def layer_norm(x, gamma, beta, eps=1e-5):
    D = x.shape[-1]
    rows = []
    for row in x.reshape(-1, D):
        mu = row.mean()
        var = ((row - mu) ** 2).mean()
        rows.append(gamma * (row - mu) / torch.sqrt(var + eps) + beta)
    return torch.stack(rows).reshape(x.shape)
'''),
    RightAnswer("NumPy in float64", cell="layer_norm", old=None, new='''
import numpy as np


def layer_norm(x, gamma, beta, eps=1e-5):
    a = x.detach().numpy().astype(np.float64)
    mu = a.mean(axis=-1, keepdims=True)
    sd = np.sqrt(a.var(axis=-1, keepdims=True) + eps)
    return torch.from_numpy((a - mu) / sd * gamma.double().numpy()
                            + beta.double().numpy())
'''),
    RightAnswer("sums divided by D, gamma reshaped to broadcast",
                cell="layer_norm", old=None, new='''
def layer_norm(x, gamma, beta, eps=1e-5):
    D = x.shape[-1]
    mean = x.sum(-1, keepdim=True) / D
    centred = x - mean
    var = (centred ** 2).sum(-1, keepdim=True) / D
    out = centred / (var + eps) ** 0.5
    return out * gamma.reshape((1,) * (x.dim() - 1) + (D,)) + beta
'''),
    # batch_norm_backward
    RightAnswer("the chain rule step by step, node after node",
                cell="batch_norm_backward", old=None, new='''
def batch_norm_backward(dout, x, gamma, eps=1e-5):
    N = x.shape[0]
    mu = x.sum(0) / N
    xmu = x - mu
    var = (xmu ** 2).sum(0) / N
    sqrtvar = torch.sqrt(var + eps)
    ivar = 1 / sqrtvar
    xhat = xmu * ivar
    dbeta = dout.sum(0)
    dgamma = (dout * xhat).sum(0)
    dxhat = dout * gamma
    divar = (dxhat * xmu).sum(0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -divar / sqrtvar ** 2
    dvar = 0.5 / sqrtvar * dsqrtvar
    dsq = torch.ones_like(x) / N * dvar
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -dx1.sum(0)
    dx2 = torch.ones_like(x) / N * dmu
    return dx1 + dx2, dgamma, dbeta
'''),
    RightAnswer("the compact formula with sums, returned as a list",
                cell="batch_norm_backward", old=None, new='''
def batch_norm_backward(dout, x, gamma, eps=1e-5):
    N = len(x)
    inv_std = (x.var(0, unbiased=False) + eps) ** -0.5
    xhat = (x - x.mean(0)) * inv_std
    dxhat = dout * gamma
    dx = inv_std / N * (N * dxhat - dxhat.sum(0)
                        - xhat * (dxhat * xhat).sum(0))
    return [dx, (dout * xhat).sum(0), dout.sum(0)]
'''),
    RightAnswer("a loop over the features", cell="batch_norm_backward",
                old=None, new='''
def batch_norm_backward(dout, x, gamma, eps=1e-5):
    N, C = x.shape
    dx = torch.zeros_like(x)
    dgamma = torch.zeros(C, dtype=x.dtype)
    dbeta = torch.zeros(C, dtype=x.dtype)
    for c in range(C):
        col = x[:, c]
        mu = col.mean()
        var = ((col - mu) ** 2).mean()
        inv = 1.0 / (var + eps).sqrt()
        xh = (col - mu) * inv
        d = dout[:, c]
        dbeta[c] = d.sum()
        dgamma[c] = (d * xh).sum()
        dxh = d * gamma[c]
        dx[:, c] = inv / N * (N * dxh - dxh.sum() - xh * (dxh * xh).sum())
    return dx, dgamma, dbeta
'''),
]
