"""Correct answers of exercise 11_optimizers written as students write them,
unlike the solution: each must keep every point (see ``catalogue`` and
``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # Adagrad
    RightAnswer("AdaGrad: torch's own single-tensor loop, eager state",
                cell="Adagrad", old=None, new='''
class Adagrad:
    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError("Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        self.params = list(params)
        self.lr = lr
        self.lr_decay = lr_decay
        self.weight_decay = weight_decay
        self.initial_accumulator_value = initial_accumulator_value
        self.eps = eps
        self.state = {}
        for p in self.params:
            self.state[p] = {"step": 0, "sum": torch.full_like(
                p, initial_accumulator_value,
                memory_format=torch.preserve_format)}

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        for param in self.params:
            if param.grad is None:
                continue
            grad = param.grad
            state = self.state[param]
            state["step"] += 1
            step = state["step"]
            if self.weight_decay != 0:
                grad = grad.add(param, alpha=self.weight_decay)
            clr = self.lr / (1 + (step - 1) * self.lr_decay)
            state["sum"].addcmul_(grad, grad, value=1)
            std = state["sum"].sqrt().add_(self.eps)
            param.addcdiv_(grad, std, value=-clr)
'''),
    RightAnswer("AdaGrad: lists of state, float64 inside", cell="Adagrad",
                old=None, new='''
class Adagrad:
    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        if min(lr, lr_decay, weight_decay, initial_accumulator_value,
               eps) < 0:
            raise ValueError("every setting must be >= 0")
        self.params = list(params)
        self.lr, self.lr_decay = lr, lr_decay
        self.weight_decay = weight_decay
        self.initial_accumulator_value = initial_accumulator_value
        self.eps = eps
        self.sums = [None for _ in self.params]
        self.counts = [0 for _ in self.params]

    def zero_grad(self):
        for p in self.params:
            if p.grad is not None:
                p.grad = None

    def step(self):
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                if self.sums[i] is None:
                    self.sums[i] = torch.full(
                        p.shape, float(self.initial_accumulator_value),
                        dtype=torch.float64, device=p.device)
                w = p.to(torch.float64)
                g = p.grad.to(torch.float64) + self.weight_decay * w
                self.counts[i] += 1
                self.sums[i] = self.sums[i] + g ** 2
                rate = self.lr / (1 + (self.counts[i] - 1) * self.lr_decay)
                w = w - rate * g / (torch.sqrt(self.sums[i]) + self.eps)
                p.copy_(w.to(p.dtype))
'''),
    RightAnswer("AdaGrad: dicts keyed by position, the decayed rate first",
                cell="Adagrad", old=None, new='''
class Adagrad:
    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        for value in (lr, lr_decay, weight_decay, initial_accumulator_value,
                      eps):
            if value < 0:
                raise ValueError("settings must not be negative")
        self.params = [p for p in params]
        self.lr, self.lr_decay = lr, lr_decay
        self.weight_decay = weight_decay
        self.initial_accumulator_value = initial_accumulator_value
        self.eps = eps
        self.sums, self.steps = {}, {}

    def zero_grad(self):
        for p in self.params:
            if p.grad is not None:
                p.grad = None

    def step(self):
        for k, p in enumerate(self.params):
            if p.grad is None:
                continue
            with torch.no_grad():
                t = self.steps.get(k, 0)
                rate = self.lr / (1 + t * self.lr_decay)
                self.steps[k] = t + 1
                g = p.grad + self.weight_decay * p
                if k not in self.sums:
                    self.sums[k] = torch.zeros_like(p) + \\
                        self.initial_accumulator_value
                self.sums[k] = self.sums[k] + g ** 2
                p.copy_(p - rate * g / (torch.sqrt(self.sums[k]) + self.eps))
'''),
    # RMSprop
    RightAnswer("RMSprop: param_groups as torch keeps them, lerp_",
                cell="RMSprop", old=None, new='''
class RMSprop:
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8,
                 weight_decay=0.0, momentum=0.0):
        for name, value in [("lr", lr), ("alpha", alpha), ("eps", eps),
                            ("weight_decay", weight_decay),
                            ("momentum", momentum)]:
            if not 0.0 <= value:
                raise ValueError(f"Invalid {name} value: {value}")
        self.param_groups = [dict(params=list(params), lr=lr, alpha=alpha,
                                  eps=eps, weight_decay=weight_decay,
                                  momentum=momentum)]
        self.state = {}

    @property
    def lr(self):
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        self.param_groups[0]["lr"] = value

    @property
    def alpha(self):
        return self.param_groups[0]["alpha"]

    @property
    def eps(self):
        return self.param_groups[0]["eps"]

    @property
    def weight_decay(self):
        return self.param_groups[0]["weight_decay"]

    @property
    def momentum(self):
        return self.param_groups[0]["momentum"]

    def zero_grad(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state.setdefault(p, {})
                if not state:
                    state["square_avg"] = torch.zeros_like(p)
                    if group["momentum"] > 0:
                        state["momentum_buffer"] = torch.zeros_like(p)
                square_avg = state["square_avg"]
                square_avg.lerp_(grad * grad, 1 - group["alpha"])
                avg = square_avg.sqrt().add_(group["eps"])
                if group["momentum"] > 0:
                    buf = state["momentum_buffer"]
                    buf.mul_(group["momentum"]).addcdiv_(grad, avg)
                    p.add_(buf, alpha=-group["lr"])
                else:
                    p.addcdiv_(grad, avg, value=-group["lr"])
'''),
    RightAnswer("RMSprop: lists, float64 inside, a buffer only with "
                "momentum", cell="RMSprop", old=None, new='''
class RMSprop:
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8,
                 weight_decay=0.0, momentum=0.0):
        if lr < 0 or alpha < 0 or eps < 0:
            raise ValueError("lr, alpha and eps must not be negative")
        if weight_decay < 0 or momentum < 0:
            raise ValueError("weight_decay and momentum must not be negative")
        self.params = list(params)
        self.lr = lr
        self.alpha = alpha
        self.eps = eps
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.v = [None] * len(self.params)
        self.b = [None] * len(self.params)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with torch.no_grad():
            for k in range(len(self.params)):
                p = self.params[k]
                if p.grad is None:
                    continue
                w = p.double()
                g = p.grad.double()
                if self.weight_decay > 0:
                    g = g + self.weight_decay * w
                if self.v[k] is None:
                    self.v[k] = torch.zeros_like(w)
                self.v[k] = self.alpha * self.v[k] + (1 - self.alpha) * g * g
                update = g / (torch.sqrt(self.v[k]) + self.eps)
                if self.momentum > 0:
                    if self.b[k] is None:
                        self.b[k] = torch.zeros_like(w)
                    self.b[k] = self.momentum * self.b[k] + update
                    update = self.b[k]
                p.copy_((w - self.lr * update).to(p.dtype))
'''),
    RightAnswer("RMSprop: the momentum buffer made at its first use",
                cell="RMSprop", old=None, new='''
class RMSprop:
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8,
                 weight_decay=0.0, momentum=0.0):
        if min(lr, alpha, eps, weight_decay, momentum) < 0:
            raise ValueError("negative setting")
        self.params = list(params)
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.weight_decay, self.momentum = weight_decay, momentum
        self.v = {}
        self.buf = {}

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                g = p.grad.clone()
                if self.weight_decay:
                    g.add_(p, alpha=self.weight_decay)
                v = self.v.get(i, torch.zeros_like(p))
                v = self.alpha * v + (1 - self.alpha) * g.square()
                self.v[i] = v
                d = g / (v.sqrt() + self.eps)
                if self.momentum:
                    if i in self.buf:
                        d = self.buf[i] = self.momentum * self.buf[i] + d
                    else:
                        self.buf[i] = d
                p.add_(d, alpha=-self.lr)
'''),
    # NesterovSGD
    RightAnswer("Nesterov: torch's own single-tensor loop",
                cell="NesterovSGD", old=None, new='''
class NesterovSGD:
    def __init__(self, params, lr=1e-3, momentum=0.9, weight_decay=0.0):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if momentum <= 0:
            raise ValueError("Nesterov momentum requires a momentum and "
                             "zero dampening")
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.state = {}

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        for param in self.params:
            if param.grad is None:
                continue
            grad = param.grad
            if self.weight_decay != 0:
                grad = grad.add(param, alpha=self.weight_decay)
            buf = self.state.get(param)
            if buf is None:
                buf = torch.clone(grad).detach()
                self.state[param] = buf
            else:
                buf.mul_(self.momentum).add_(grad)
            grad = grad.add(buf, alpha=self.momentum)
            param.add_(grad, alpha=-self.lr)
'''),
    RightAnswer("Nesterov: (1 + mu) g + mu^2 b with the old buffer",
                cell="NesterovSGD", old=None, new='''
class NesterovSGD:
    def __init__(self, params, lr=1e-3, momentum=0.9, weight_decay=0.0):
        if lr < 0 or weight_decay < 0 or not momentum > 0:
            raise ValueError("need lr >= 0, weight_decay >= 0, momentum > 0")
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.velocity = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        mu = self.momentum
        with torch.no_grad():
            for p, b in zip(self.params, self.velocity):
                if p.grad is None:
                    continue
                g = p.grad + self.weight_decay * p
                # g + mu * (mu * b + g), with the buffer before its update
                p -= self.lr * ((1 + mu) * g + mu * mu * b)
                b.mul_(mu).add_(g)
'''),
    # lr_at
    RightAnswer("lr_at: the cosine as a squared cosine of half the angle",
                cell="lr_at", old=None, new='''
def lr_at(step, base_lr, total_steps, warmup_steps, start_factor=0.1,
          eta_min=0.0):
    if warmup_steps > 0 and step < warmup_steps:
        fraction = step / warmup_steps
        return base_lr * start_factor + base_lr * (1 - start_factor) * fraction
    x = (step - warmup_steps) / (total_steps - warmup_steps)
    return eta_min + (base_lr - eta_min) * math.cos(math.pi * x / 2) ** 2
'''),
    RightAnswer("lr_at: numpy, the two phases as names", cell="lr_at",
                old=None, new='''
import numpy as np


def lr_at(step, base_lr, total_steps, warmup_steps, start_factor=0.1,
          eta_min=0.0):
    in_warmup = step < warmup_steps
    if in_warmup:
        factor = np.interp(step, [0, warmup_steps], [start_factor, 1.0])
        return float(base_lr * factor)
    cosine_steps = total_steps - warmup_steps
    done = step - warmup_steps
    return float(eta_min + 0.5 * (base_lr - eta_min)
                 * (1 + np.cos(np.pi * done / cosine_steps)))
'''),
    RightAnswer("lr_at: the warm-up's slope, the cosine's phase",
                cell="lr_at", old=None, new='''
def lr_at(step, base_lr, total_steps, warmup_steps, start_factor=0.1,
          eta_min=0.0):
    if step >= warmup_steps:
        phase = math.pi * (step - warmup_steps) / (total_steps - warmup_steps)
        return eta_min + 0.5 * (base_lr - eta_min) * (1.0 + math.cos(phase))
    start = start_factor * base_lr
    slope = (base_lr - start) / warmup_steps
    return start + slope * step
'''),
    # lr_range_test
    RightAnswer("range test: SGD by hand, np.geomspace, itertools.cycle",
                cell="lr_range_test", old=None, new='''
import itertools

import numpy as np


def lr_range_test(model, loss_fn, batches, lr_min, lr_max, num_steps,
                  stop_factor=4.0):
    net = copy.deepcopy(model)
    rates = np.geomspace(lr_min, lr_max, num_steps)
    lrs, losses = [], []
    best = math.inf
    for lr, (X, y) in zip(rates, itertools.cycle(batches)):
        loss = loss_fn(net(X), y)
        value = loss.item()
        lrs.append(float(lr))
        losses.append(value)
        best = min(best, value)
        if not math.isfinite(value) or value > stop_factor * best:
            break
        grads = torch.autograd.grad(loss, list(net.parameters()))
        with torch.no_grad():
            for p, g in zip(net.parameters(), grads):
                p -= float(lr) * g
    return lrs, losses
'''),
    RightAnswer("range test: a while loop, SGD on .data by hand",
                cell="lr_range_test", old=None, new='''
def lr_range_test(model, loss_fn, batches, lr_min, lr_max, num_steps,
                  stop_factor=4.0):
    trial = copy.deepcopy(model)
    ratio = lr_max / lr_min
    lrs = []
    losses = []
    k = 0
    while k < num_steps:
        lr = lr_min * ratio ** (k / (num_steps - 1))
        X, y = batches[k % len(batches)]
        loss = loss_fn(trial(X), y)
        lrs.append(lr)
        losses.append(loss.item())
        lowest = min(losses)
        if math.isnan(losses[-1]) or losses[-1] > stop_factor * lowest:
            return lrs, losses
        for p in trial.parameters():
            p.grad = None
        loss.backward()
        for p in trial.parameters():
            p.data -= lr * p.grad
        k += 1
    return lrs, losses
'''),
    RightAnswer("range test: np.logspace, float(loss), SGD under no_grad",
                cell="lr_range_test", old=None, new='''
import numpy as np


def lr_range_test(model, loss_fn, batches, lr_min, lr_max, num_steps,
                  stop_factor=4.0):
    trial = copy.deepcopy(model)
    rates = np.logspace(np.log10(lr_min), np.log10(lr_max), num_steps)
    lrs, losses = [], []
    for k in range(num_steps):
        X, y = batches[k % len(batches)]
        loss = loss_fn(trial(X), y)
        lrs.append(float(rates[k]))
        losses.append(float(loss))
        if losses[-1] > stop_factor * min(losses) or np.isnan(losses[-1]):
            break
        for p in trial.parameters():
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in trial.parameters():
                p -= float(rates[k]) * p.grad
    return lrs, losses
'''),
]
