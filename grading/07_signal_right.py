"""Correct answers of exercise 07_signal written as students write them,
unlike the solution: each must keep every point (see ``catalogue`` and
``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # measure_step
    RightAnswer("a snapshot first, .data clones", cell="measure_step",
                old=None, new='''
def measure_step(model, loss_fn, X, y, optimizer):
    before = [p.data.clone() for p in model.parameters()]
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    weight, grad, step = [], [], []
    for p, old in zip(model.parameters(), before):
        weight.append(torch.abs(old))
        if p.grad is None:
            grad.append(torch.zeros_like(old))
        else:
            grad.append(torch.abs(p.grad.detach().clone()))
        step.append(torch.abs(p.data - old))
    return weight, grad, step
'''),
    RightAnswer("under no_grad, copies after the step", cell="measure_step",
                old=None, new='''
def measure_step(model, loss_fn, X, y, optimizer):
    params = [p for p in model.parameters()]
    pred = model(X)
    loss = loss_fn(pred, y)
    optimizer.zero_grad(set_to_none=False)
    loss.backward()
    with torch.no_grad():
        w_before = [p.clone() for p in params]
        grads = [p.grad.clone() if p.grad is not None
                 else torch.zeros_like(p) for p in params]
    optimizer.step()
    with torch.no_grad():
        w_after = [p.clone() for p in params]
    return ([w.abs() for w in w_before], [g.abs() for g in grads],
            [(a - b).abs() for a, b in zip(w_after, w_before)])
'''),
    RightAnswer("one dictionary per parameter", cell="measure_step",
                old=None, new='''
def measure_step(model, loss_fn, X, y, optimizer):
    loss = loss_fn(model(X), y)
    optimizer.zero_grad()
    loss.backward()
    records = []
    for p in model.parameters():
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        records.append({"w": p.detach().clone(), "g": g.detach().abs()})
    optimizer.step()
    for p, record in zip(model.parameters(), records):
        record["dw"] = (p.detach() - record["w"]).abs()
    return ([r["w"].abs() for r in records], [r["g"] for r in records],
            [r["dw"] for r in records])
'''),
    RightAnswer("every measurement in float64", cell="measure_step",
                old=None, new='''
def measure_step(model, loss_fn, X, y, optimizer):
    loss = loss_fn(model(X), y)
    optimizer.zero_grad()
    loss.backward()
    w0 = [p.detach().to(torch.float64, copy=True)
          for p in model.parameters()]
    g = [torch.zeros_like(w) if p.grad is None
         else p.grad.detach().to(torch.float64)
         for p, w in zip(model.parameters(), w0)]
    optimizer.step()
    w1 = [p.detach().to(torch.float64) for p in model.parameters()]
    return ([w.abs() for w in w0], [x.abs() for x in g],
            [(b - a).abs() for a, b in zip(w0, w1)])
'''),
    # overlap
    RightAnswer("NumPy: a stable argsort of minus the sizes", cell="overlap",
                old=None, new='''
import numpy as np


def top_k(values, k):
    sizes = np.concatenate([np.abs(v.detach().cpu().numpy()).ravel()
                            for v in values])
    if k < 1 or k > sizes.size:
        raise ValueError(f"k={k} is not between 1 and {sizes.size}")
    return np.argsort(-sizes, kind="stable")[:k]


def overlap(a, b, k):
    n_a = sum(t.numel() for t in a)
    n_b = sum(t.numel() for t in b)
    if n_a != n_b:
        raise ValueError(f"a has {n_a} entries, b has {n_b}")
    common = np.intersect1d(top_k(a, k), top_k(b, k))
    return len(common) / k
'''),
    RightAnswer("Python's sorted, reversed (stable all the same)",
                cell="overlap", old=None, new='''
def top_k(values, k):
    flat = []
    for v in values:
        flat += [abs(x) for x in v.detach().reshape(-1).tolist()]
    if not 1 <= k <= len(flat):
        raise ValueError("k out of range")
    ranked = sorted(range(len(flat)), key=lambda i: flat[i], reverse=True)
    return ranked[:k]


def overlap(a, b, k):
    if sum(t.numel() for t in a) != sum(t.numel() for t in b):
        raise ValueError("a and b differ in size")
    return len(set(top_k(a, k)).intersection(top_k(b, k))) / k
'''),
    RightAnswer("a mask of the top positions", cell="overlap", old=None,
                new='''
def top_k(values, k):
    sizes = torch.cat([v.detach().reshape(-1) for v in values]).abs()
    if k < 1 or k > sizes.numel():
        raise ValueError(f"k must be in [1, {sizes.numel()}], got {k}")
    order = sizes.argsort(descending=True, stable=True)
    mask = torch.zeros(sizes.numel(), dtype=torch.bool)
    mask[order[:k]] = True
    return mask


def overlap(a, b, k):
    total_a = sum(x.numel() for x in a)
    if total_a != sum(x.numel() for x in b):
        raise ValueError("different numbers of entries")
    both = top_k(a, k) & top_k(b, k)
    return both.sum().item() / k
'''),
    # who_moves
    RightAnswer("every measurement kept, the last one used",
                cell="who_moves", old=None, new='''
def who_moves(model, loss_fn, batches, optimizer, k):
    history = [measure_step(model, loss_fn, X_b, y_b, optimizer)
               for X_b, y_b in batches]
    weight, grad, step = history[-1]
    return history[-1], {"weight": overlap(weight, step, k),
                         "grad": overlap(grad, step, k)}
'''),
    RightAnswer("a while loop over the batches", cell="who_moves", old=None,
                new='''
def who_moves(model, loss_fn, batches, optimizer, k):
    i = 0
    last = None
    while i < len(batches):
        X, y = batches[i]
        last = measure_step(model, loss_fn, X, y, optimizer)
        i += 1
    shares = dict(grad=overlap(last[1], last[2], k),
                  weight=overlap(last[0], last[2], k))
    return last, shares
'''),
    # loss_scale_ratio
    RightAnswer("two copies written out, a lambda for the scaled loss",
                cell="loss_scale_ratio", old=None, new='''
def loss_scale_ratio(model, loss_fn, X, y, optimizer_class, settings, c):
    plain = copy.deepcopy(model)
    scaled = copy.deepcopy(model)
    _, _, step_plain = measure_step(
        plain, loss_fn, X, y, optimizer_class(plain.parameters(),
                                              **settings))
    _, _, step_scaled = measure_step(
        scaled, lambda pred, target: c * loss_fn(pred, target), X, y,
        optimizer_class(scaled.parameters(), **settings))
    total_plain = torch.cat([s.flatten() for s in step_plain]).sum()
    total_scaled = torch.cat([s.flatten() for s in step_scaled]).sum()
    return float(total_scaled / total_plain)
'''),
    RightAnswer("the steps measured by hand, in Python floats",
                cell="loss_scale_ratio", old=None, new='''
def loss_scale_ratio(model, loss_fn, X, y, optimizer_class, settings, c):
    def total_step(scale):
        net = copy.deepcopy(model)
        opt = optimizer_class(net.parameters(), **settings)
        start = [p.detach().clone() for p in net.parameters()]
        opt.zero_grad()
        loss = loss_fn(net(X), y) * scale
        loss.backward()
        opt.step()
        return sum((p.detach() - s).abs().sum().item()
                   for p, s in zip(net.parameters(), start))

    return total_step(c) / total_step(1.0)
'''),
    RightAnswer("the gradients scaled after backward", cell="loss_scale_ratio",
                old=None, new='''
def loss_scale_ratio(model, loss_fn, X, y, optimizer_class, settings, c):
    sizes = {}
    for factor in [1.0, c]:
        twin = copy.deepcopy(model)
        optimizer = optimizer_class(twin.parameters(), **settings)
        before = [p.detach().clone() for p in twin.parameters()]
        optimizer.zero_grad()
        loss_fn(twin(X), y).backward()
        with torch.no_grad():
            for p in twin.parameters():
                if p.grad is not None:
                    p.grad *= factor   # the gradient of factor * loss
        optimizer.step()
        sizes[factor] = sum((p.detach() - b).abs().sum()
                            for p, b in zip(twin.parameters(), before))
    return (sizes[c] / sizes[1.0]).item()
'''),
    # gradient_gain
    RightAnswer("torch.autograd.grad, mul_ under no_grad",
                cell="gradient_gain", old=None, new='''
def gradient_gain(model, loss_fn, X, y, k):
    def first_grad_norm(scale):
        twin = copy.deepcopy(model)
        linears = [m for m in twin.modules()
                   if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            linears[-1].weight.mul_(scale)
        loss = loss_fn(twin(X), y)
        (g,) = torch.autograd.grad(loss, linears[0].weight)
        return torch.linalg.norm(g)

    return (first_grad_norm(k) / first_grad_norm(1.0)).item()
'''),
    RightAnswer("through .data, the norm by hand", cell="gradient_gain",
                old=None, new='''
def gradient_gain(model, loss_fn, X, y, k):
    results = []
    for factor in (1.0, k):
        m = copy.deepcopy(model)
        layers = [layer for layer in m if isinstance(layer, torch.nn.Linear)]
        layers[-1].weight.data = layers[-1].weight.data * factor
        m.zero_grad()
        loss_fn(m(X), y).backward()
        results.append(layers[0].weight.grad.pow(2).sum().sqrt().item())
    return results[1] / results[0]
'''),
    RightAnswer("copies kept in a dict by factor", cell="gradient_gain",
                old=None, new='''
def gradient_gain(model, loss_fn, X, y, k):
    copies = {1.0: copy.deepcopy(model), k: copy.deepcopy(model)}
    norms = {}
    for factor, net in copies.items():
        first = next(m for m in net if isinstance(m, torch.nn.Linear))
        last = [m for m in net if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            last.weight.copy_(last.weight * factor)
        loss_fn(net(X), y).backward()
        norms[factor] = first.weight.grad.norm()
    return float(norms[k] / norms[1.0])
'''),
]
