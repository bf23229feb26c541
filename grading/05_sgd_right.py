"""Correct answers of exercise 05_sgd written as students write them,
unlike the solution: each must keep every point (see ``catalogue`` and
``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # minibatches
    RightAnswer("a while loop, rng.shuffle of an arange", cell="minibatches",
                old=None, new='''
def minibatches(X, y, batch_size, rng, drop_last=False):
    n = X.shape[0]
    idx = np.arange(n)
    rng.shuffle(idx)
    start = 0
    while start < n:
        batch = idx[start:start + batch_size]
        if drop_last and len(batch) < batch_size:
            break
        yield X[batch], y[batch]
        start += batch_size
'''),
    RightAnswer("np.split at multiples of the batch size", cell="minibatches",
                old=None, new='''
def minibatches(X, y, batch_size, rng, drop_last=False):
    perm = rng.permutation(len(X))
    for chunk in np.split(perm, np.arange(batch_size, len(perm),
                                          batch_size)):
        if len(chunk) == batch_size or (len(chunk) > 0 and not drop_last):
            yield X[chunk], y[chunk]
'''),
    RightAnswer("a list of batches, not a generator", cell="minibatches",
                old=None, new='''
def minibatches(X, y, batch_size, rng, drop_last=False):
    order = rng.permutation(len(X))
    num_batches = len(X) // batch_size
    if not drop_last and len(X) % batch_size:
        num_batches += 1
    batches = []
    for k in range(num_batches):
        index = order[k * batch_size:(k + 1) * batch_size]
        batches.append((X[index], y[index]))
    return batches
'''),
    # SGD
    RightAnswer("state in a dict by position, buffers torch's way", cell="SGD",
                old=None, new='''
class SGD:
    def __init__(self, params, lr, momentum=0.0):
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0 or momentum >= 1.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        self.params = [p for p in params]
        self.lr = lr
        self.momentum = momentum
        self.state = {}

    def zero_grad(self):
        for p in self.params:
            if p.grad is not None:
                p.grad = None

    def step(self):
        with torch.no_grad():
            for k, p in enumerate(self.params):
                if p.grad is None:
                    continue
                d_p = p.grad
                if self.momentum:
                    buf = self.state.get(k)
                    if buf is None:
                        buf = torch.clone(d_p).detach()
                        self.state[k] = buf
                    else:
                        buf.mul_(self.momentum).add_(d_p)
                    d_p = buf
                p.add_(d_p, alpha=-self.lr)
'''),
    RightAnswer("velocities made eagerly as zeros", cell="SGD", old=None,
                new='''
class SGD:
    def __init__(self, params, lr, momentum=0.0):
        if lr < 0:
            raise ValueError("lr must be >= 0")
        if not 0 <= momentum < 1:
            raise ValueError("momentum must be in [0, 1)")
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        self.velocities = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with torch.no_grad():
            for p, v in zip(self.params, self.velocities):
                if p.grad is not None:
                    v.mul_(self.momentum).add_(p.grad)
                    p.sub_(self.lr * v)
'''),
    RightAnswer("velocities keyed by tensor, updates through .data",
                cell="SGD", old=None, new='''
class SGD:
    def __init__(self, params, lr, momentum=0.0):
        self.params = list(params)
        if lr < 0:
            raise ValueError(f"lr={lr} is negative")
        if momentum < 0 or momentum >= 1:
            raise ValueError(f"momentum={momentum} is not in [0, 1)")
        self.lr, self.momentum = lr, momentum
        self.velocity = {}

    def zero_grad(self):
        for w in self.params:
            w.grad = None

    def step(self):
        for w in self.params:
            if w.grad is None:
                continue
            g = w.grad.data
            if self.momentum == 0:
                w.data -= self.lr * g
                continue
            if w in self.velocity:
                self.velocity[w] = self.momentum * self.velocity[w] + g
            else:
                self.velocity[w] = g.clone()
            w.data -= self.lr * self.velocity[w]
'''),
    RightAnswer("float64 velocities, steps cast back", cell="SGD", old=None,
                new='''
class SGD:
    def __init__(self, params, lr, momentum=0.0):
        if lr < 0 or not (0.0 <= momentum < 1.0):
            raise ValueError("need lr >= 0 and 0 <= momentum < 1")
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        self.v = [None for _ in self.params]

    def zero_grad(self):
        for param in self.params:
            param.grad = None

    def step(self):
        with torch.no_grad():
            for i, param in enumerate(self.params):
                if param.grad is None:
                    continue
                grad = param.grad.to(torch.float64)
                if self.v[i] is None:
                    self.v[i] = grad.clone()
                else:
                    self.v[i] = self.momentum * self.v[i] + grad
                new = param.to(torch.float64) - self.lr * self.v[i]
                param.copy_(new.to(param.dtype))
'''),
    # train_epoch
    RightAnswer("counting the examples seen", cell="train_epoch", old=None,
                new='''
def train_epoch(model, loss_fn, optimizer, X, y, batch_size, rng):
    loss_sum, seen = 0.0, 0
    for xb, yb in minibatches(X, y, batch_size, rng):
        optimizer.zero_grad()
        out = model(xb)
        batch_loss = loss_fn(out, yb)
        batch_loss.backward()
        optimizer.step()
        loss_sum += batch_loss.item() * xb.shape[0]
        seen += xb.shape[0]
    return loss_sum / seen
'''),
    RightAnswer("losses and sizes in lists, np.average", cell="train_epoch",
                old=None, new='''
def train_epoch(model, loss_fn, optimizer, X, y, batch_size, rng):
    losses, sizes = [], []
    for X_batch, y_batch in minibatches(X, y, batch_size, rng,
                                        drop_last=False):
        pred = model(X_batch)
        loss = loss_fn(pred, y_batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        sizes.append(len(X_batch))
    return float(np.average(losses, weights=sizes))
'''),
    RightAnswer("a tensor running total", cell="train_epoch", old=None,
                new='''
def train_epoch(model, loss_fn, optimizer, X, y, batch_size, rng):
    total = torch.zeros(())
    for X_batch, y_batch in minibatches(X, y, batch_size, rng):
        loss = loss_fn(model(X_batch), y_batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total = total + loss.detach().cpu().double() * len(y_batch)
    return (total / len(y)).item()
'''),
]
