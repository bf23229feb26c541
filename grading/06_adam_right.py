"""Correct answers of exercise 06_adam written as students write them,
unlike the solution: each must keep every point (see ``catalogue`` and
``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # Adam
    RightAnswer("torch's own single-tensor loop", cell="Adam", old=None,
                new='''
import math


class Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, *, decoupled_weight_decay=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        self.params = list(params)
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.decoupled_weight_decay = decoupled_weight_decay
        self.state = {}

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        beta1, beta2 = self.betas
        for param in self.params:
            if param.grad is None:
                continue
            grad = param.grad
            if param not in self.state:
                self.state[param] = {
                    "step": 0,
                    "exp_avg": torch.zeros_like(param),
                    "exp_avg_sq": torch.zeros_like(param),
                }
            state = self.state[param]
            state["step"] += 1
            step = state["step"]
            if self.weight_decay != 0:
                if self.decoupled_weight_decay:
                    param.mul_(1 - self.lr * self.weight_decay)
                else:
                    grad = grad.add(param, alpha=self.weight_decay)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            step_size = self.lr / bias_correction1
            denom = (exp_avg_sq.sqrt() / math.sqrt(bias_correction2)).add_(
                self.eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)
'''),
    RightAnswer("eager state in lists, float64 inside", cell="Adam",
                old=None, new='''
class Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, *, decoupled_weight_decay=False):
        b1, b2 = betas
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError("lr, eps and weight_decay must be >= 0")
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError("betas must be in [0, 1)")
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.weight_decay = weight_decay
        self.decoupled_weight_decay = decoupled_weight_decay
        self.m = [torch.zeros_like(p, dtype=torch.float64)
                  for p in self.params]
        self.v = [torch.zeros_like(p, dtype=torch.float64)
                  for p in self.params]
        self.t = [0] * len(self.params)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        b1, b2 = self.betas
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                w = p.to(torch.float64)
                g = p.grad.to(torch.float64)
                if self.decoupled_weight_decay:
                    w = w * (1 - self.lr * self.weight_decay)
                else:
                    g = g + self.weight_decay * w
                self.t[i] += 1
                self.m[i] = b1 * self.m[i] + (1 - b1) * g
                self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
                m_hat = self.m[i] / (1 - b1 ** self.t[i])
                v_hat = self.v[i] / (1 - b2 ** self.t[i])
                w = w - self.lr * m_hat / (v_hat.sqrt() + self.eps)
                p.copy_(w.to(p.dtype))
'''),
    RightAnswer("zip over state lists, .data, the paper's efficient form",
                cell="Adam", old=None, new='''
class Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, *, decoupled_weight_decay=False):
        if lr < 0:
            raise ValueError("negative learning rate")
        for beta in betas:
            if beta < 0 or beta >= 1:
                raise ValueError("each beta must be in [0, 1)")
        if eps < 0:
            raise ValueError("negative eps")
        if weight_decay < 0:
            raise ValueError("negative weight_decay")
        self.params = list(params)
        self.lr = lr
        self.betas = tuple(betas)
        self.eps = eps
        self.weight_decay = weight_decay
        self.decoupled_weight_decay = decoupled_weight_decay
        self.steps = [0 for _ in self.params]
        self.m = [None for _ in self.params]
        self.v = [None for _ in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        beta1, beta2 = self.betas
        lr, wd = self.lr, self.weight_decay
        for i, (p, m, v) in enumerate(zip(self.params, self.m, self.v)):
            if p.grad is None:
                continue
            if m is None:
                m = self.m[i] = torch.zeros_like(p.data)
                v = self.v[i] = torch.zeros_like(p.data)
            g = p.grad.data
            if wd and self.decoupled_weight_decay:
                p.data -= lr * wd * p.data
            elif wd:
                g = g + wd * p.data
            self.steps[i] += 1
            t = self.steps[i]
            m.mul_(beta1).add_(g, alpha=1 - beta1)
            v.mul_(beta2).add_(g * g, alpha=1 - beta2)
            # Kingma and Ba's efficient form, with eps scaled to match
            bias1, bias2 = 1 - beta1 ** t, 1 - beta2 ** t
            step_size = lr * bias2 ** 0.5 / bias1
            p.data -= step_size * m / (v.sqrt() + self.eps * bias2 ** 0.5)
'''),
    RightAnswer("param_groups as torch keeps them, the settings properties, "
                "the bias corrections as float32 tensors", cell="Adam",
                old=None, new='''
class Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, *, decoupled_weight_decay=False):
        if lr < 0.0 or eps < 0.0 or weight_decay < 0.0:
            raise ValueError("lr, eps and weight_decay must not be negative")
        if any(not 0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"Invalid betas: {betas}")
        self.param_groups = [dict(
            params=list(params), lr=lr, betas=betas, eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay)]
        self.state = {}

    @property
    def lr(self):
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        self.param_groups[0]["lr"] = value

    @property
    def betas(self):
        return self.param_groups[0]["betas"]

    @property
    def eps(self):
        return self.param_groups[0]["eps"]

    @property
    def weight_decay(self):
        return self.param_groups[0]["weight_decay"]

    @property
    def decoupled_weight_decay(self):
        return self.param_groups[0]["decoupled_weight_decay"]

    def zero_grad(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if wd != 0 and group["decoupled_weight_decay"]:
                    p.mul_(1 - lr * wd)
                elif wd != 0:
                    grad = grad + wd * p
                state = self.state.setdefault(p, {})
                if not state:
                    state["t"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["t"] += 1
                t, m, v = state["t"], state["m"], state["v"]
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                bc1 = 1 - torch.tensor(beta1) ** t
                bc2 = torch.sqrt(torch.tensor(1 - beta2 ** t))
                denom = (v.sqrt() / bc2).add_(group["eps"])
                p.sub_(lr / bc1 * m / denom)
'''),
    # AdamW
    RightAnswer("settings passed by position", cell="AdamW", old=None,
                new='''
class AdamW(Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay,
                         decoupled_weight_decay=True)
'''),
    RightAnswer("Adam.__init__ by name, decoupling set afterwards",
                cell="AdamW", old=None, new='''
class AdamW(Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.01):
        Adam.__init__(self, params, lr=lr, betas=betas, eps=eps,
                      weight_decay=weight_decay)
        self.decoupled_weight_decay = True
'''),
]
