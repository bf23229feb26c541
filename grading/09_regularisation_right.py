"""Correct answers of exercise 09_regularisation written as students write
them, unlike the solution: each must keep every point (see ``catalogue``
and ``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole
cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # penalty
    RightAnswer("the Linear layers' weights, norms from torch.linalg",
                cell="penalty", old=None, new='''
def penalty(model, kind="l2", lam=1e-3):
    total = 0.0
    for layer in model.modules():
        if isinstance(layer, torch.nn.Linear):
            if kind == "l2":
                total = total + 0.5 * lam * torch.linalg.vector_norm(
                    layer.weight) ** 2
            else:
                total = total + lam * torch.linalg.vector_norm(
                    layer.weight, ord=1)
    return total
'''),
    RightAnswer("every tensor of more than one dimension, a loop",
                cell="penalty", old=None, new='''
def penalty(model, kind="l2", lam=1e-3):
    result = torch.zeros((), dtype=next(model.parameters()).dtype)
    for p in model.parameters():
        if p.dim() < 2:
            continue                      # a bias
        if kind == "l1":
            result = result + lam * p.abs().sum()
        else:
            result = result + lam * (p * p).sum() / 2
    return result
'''),
    RightAnswer("one flat vector of the weights", cell="penalty", old=None,
                new='''
def penalty(model, kind="l2", lam=1e-3):
    flat = torch.cat([w.reshape(-1) for n, w in model.named_parameters()
                      if "bias" not in n])
    return lam * (flat.abs().sum() if kind == "l1" else flat.dot(flat) / 2)
'''),
    # SGD
    RightAnswer("decay first, buffers in place, keyed by the tensor",
                cell="SGD", old=None, new='''
class SGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0,
                 decoupled=False):
        self.params = [p for p in params]
        self.lr, self.momentum = lr, momentum
        self.weight_decay, self.decoupled = weight_decay, decoupled
        self.state = {}

    @torch.no_grad()
    def step(self):
        for p in self.params:
            if p.grad is None:
                continue
            if self.decoupled:
                p.mul_(1 - self.lr * self.weight_decay)
                d_p = p.grad.clone()
            else:
                d_p = p.grad.add(p, alpha=self.weight_decay)
            if self.momentum != 0:
                buf = self.state.get(p)
                if buf is None:
                    buf = self.state[p] = d_p.clone()
                else:
                    buf.mul_(self.momentum).add_(d_p)
                d_p = buf
            p.add_(d_p, alpha=-self.lr)

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''),
    RightAnswer("float64 inside, the shrink written out, buffers in a list",
                cell="SGD", old=None, new='''
class SGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0,
                 decoupled=False):
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.decoupled = decoupled
        self.velocity = [None] * len(self.params)

    def step(self):
        with torch.no_grad():
            for i, w in enumerate(self.params):
                if w.grad is None:
                    continue
                w64 = w.detach().double()
                g = w.grad.double()
                if not self.decoupled:
                    g = g + self.weight_decay * w64
                if self.momentum > 0:
                    if self.velocity[i] is None:
                        self.velocity[i] = g.clone()
                    else:
                        self.velocity[i] = self.momentum * self.velocity[i] + g
                    g = self.velocity[i]
                if self.decoupled:
                    w64 = w64 - self.lr * self.weight_decay * w64
                w.copy_((w64 - self.lr * g).to(w.dtype))

    def zero_grad(self):
        for w in self.params:
            if w.grad is not None:
                w.grad = None
'''),
    RightAnswer("buffers of zeros made up front, the decay subtracted",
                cell="SGD", old=None, new='''
class SGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0,
                 decoupled=False):
        self.params = [p for p in params]
        self.lr, self.momentum, self.wd = lr, momentum, weight_decay
        self.decoupled = decoupled
        self.v = [torch.zeros_like(p) for p in self.params]

    def step(self):
        for p, v in zip(self.params, self.v):
            if p.grad is None:
                continue
            with torch.no_grad():
                grad = p.grad.detach().clone()
                if not self.decoupled:
                    grad += self.wd * p
                else:
                    p -= self.lr * self.wd * p
                if self.momentum:
                    v.mul_(self.momentum).add_(grad)
                    grad = v
                p -= self.lr * grad

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''),
    # dropout
    RightAnswer("torch.where and a multiplier", cell="dropout", old=None,
                new='''
def dropout(X, p, mask, training=True):
    if not training or p == 0:
        return X.clone()
    if p >= 1:
        return X * 0
    scale = 1.0 / (1.0 - p)
    return torch.where(mask, X * scale, torch.zeros_like(X))
'''),
    RightAnswer("the mask as numbers, in X's dtype", cell="dropout",
                old=None, new='''
def dropout(X, p, mask, training=True):
    if training:
        keep = 1 - p
        m = mask.to(X.dtype)
        return X * m / keep if keep > 0 else torch.zeros_like(X)
    return X + 0
'''),
    RightAnswer("a float32 mask, scaled before X", cell="dropout", old=None,
                new='''
def dropout(X, p, mask, training=True):
    if not training:
        return X.clone()
    if p == 1:
        return torch.zeros_like(X)
    scale = mask.float() / (1 - p)
    return (X * scale).to(X.dtype)
'''),
    # EarlyStopping
    RightAnswer("a counter of bad epochs and a dict of cloned tensors",
                cell="EarlyStopping", old=None, new='''
class EarlyStopping:
    def __init__(self, patience, min_delta=0.0):
        self.patience, self.min_delta = patience, min_delta
        self.best_loss, self.best_epoch = math.inf, 0
        self.epochs, self.bad_epochs, self.saved = 0, 0, None

    def step(self, val_loss, model):
        self.epochs += 1
        if self.best_loss - val_loss > self.min_delta:
            self.best_loss, self.best_epoch = val_loss, self.epochs
            self.saved = {k: v.detach().clone()
                          for k, v in model.state_dict().items()}
            self.bad_epochs = 0
            return False
        self.bad_epochs += 1
        return self.bad_epochs == self.patience or \\
            self.bad_epochs > self.patience

    def restore(self, model):
        model.load_state_dict(self.saved)
'''),
    RightAnswer("a copy of the whole model, the history of losses",
                cell="EarlyStopping", old=None, new='''
class EarlyStopping:
    def __init__(self, patience, min_delta=0.0):
        self.patience = patience
        self.min_delta = min_delta
        self.losses = []
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_model = None

    def step(self, val_loss, model):
        self.losses.append(val_loss)
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss = val_loss
            self.best_epoch = len(self.losses)
            self.best_model = copy.deepcopy(model)
        return len(self.losses) - self.best_epoch >= self.patience

    def restore(self, model):
        model.load_state_dict(self.best_model.state_dict())
'''),
    RightAnswer("tensors cloned one by one, epochs since the best",
                cell="EarlyStopping", old=None, new='''
class EarlyStopping:
    def __init__(self, patience, min_delta=0.0):
        self.patience = patience
        self.min_delta = min_delta
        self.best_loss = math.inf
        self.best_epoch = 0
        self.n = 0
        self.weights = {}

    def step(self, val_loss, model):
        self.n += 1
        if self.best_loss - val_loss > self.min_delta:
            self.best_loss = float(val_loss)
            self.best_epoch = self.n
            self.weights = {name: t.clone() for name, t in
                            model.state_dict().items()}
        return self.n - self.best_epoch >= self.patience

    def restore(self, model):
        with torch.no_grad():
            for name, t in model.state_dict().items():
                t.copy_(self.weights[name])
'''),
    # kfold
    RightAnswer("np.array_split and a boolean mask", cell="kfold", old=None,
                new='''
def kfold(n, k, shuffle=False, seed=0):
    indices = np.arange(n)
    if shuffle:
        np.random.RandomState(seed).shuffle(indices)
    result = []
    for fold in np.array_split(indices, k):
        in_fold = np.zeros(n, dtype=bool)
        in_fold[fold] = True
        result.append((np.flatnonzero(~in_fold).tolist(),
                       np.flatnonzero(in_fold).tolist()))
    return result
'''),
    RightAnswer("torch and sets, fold boundaries from the start",
                cell="kfold", old=None, new='''
def kfold(n, k, shuffle=False, seed=0):
    if shuffle:
        order = list(np.random.RandomState(seed).permutation(n))
    else:
        order = list(range(n))
    base, extra = divmod(n, k)
    folds, start = [], 0
    for i in range(k):
        stop = start + base + (i < extra)
        valid = set(int(j) for j in order[start:stop])
        train = [j for j in range(n) if j not in valid]
        folds.append((train, sorted(valid)))
        start = stop
    return folds
'''),
    RightAnswer("NumPy's global seed, fold boundaries by cumsum",
                cell="kfold", old=None, new='''
def kfold(n, k, shuffle=False, seed=0):
    idx = np.arange(n)
    if shuffle:
        np.random.seed(seed)
        idx = np.random.permutation(n)
    sizes = np.full(k, n // k)
    sizes[:n % k] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        valid = np.sort(idx[a:b])
        train = np.sort(np.concatenate([idx[:a], idx[b:]]))
        out.append((train.tolist(), valid.tolist()))
    return out
'''),
]
