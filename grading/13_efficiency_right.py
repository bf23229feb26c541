"""Correct answers of exercise 13_efficiency written as students write
them, unlike the solution: each must keep every point (see ``catalogue``
and ``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole
cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # accumulated_grads
    RightAnswer("torch.split, .grad set to None, the loss added in float64",
                cell="accumulated_grads", old=None, new='''
def accumulated_grads(model, loss_fn, X, Y, micro_batch_size):
    for p in model.parameters():
        p.grad = None
    total = torch.zeros((), dtype=torch.float64)
    for xb, yb in zip(torch.split(X, micro_batch_size),
                      torch.split(Y, micro_batch_size)):
        share = xb.shape[0] / X.shape[0]
        loss = share * loss_fn(model(xb), yb)
        loss.backward()
        total += loss.detach().double()
    return float(total)
'''),
    RightAnswer("summed losses backward, every gradient divided by N at "
                "the end", cell="accumulated_grads", old=None, new='''
def accumulated_grads(model, loss_fn, X, Y, micro_batch_size):
    params = list(model.parameters())
    for p in params:
        if p.grad is not None:
            p.grad.zero_()
    n, summed, start = X.shape[0], 0.0, 0
    while start < n:
        stop = min(start + micro_batch_size, n)
        loss = loss_fn(model(X[start:stop]), Y[start:stop]) * (stop - start)
        loss.backward()
        summed += loss.item()
        start = stop
    with torch.no_grad():
        for p in params:
            p.grad /= n
    return summed / n
'''),
    RightAnswer("as many equal micro-batches (torch.chunk), the last "
                "first", cell="accumulated_grads", old=None, new='''
def accumulated_grads(model, loss_fn, X, Y, micro_batch_size):
    model.zero_grad(set_to_none=True)
    pieces = -(-len(X) // micro_batch_size)
    total = 0.0
    for xb, yb in reversed(list(zip(X.chunk(pieces), Y.chunk(pieces)))):
        loss = loss_fn(model(xb), yb)
        (loss * len(xb) / len(X)).backward()
        total += loss.item() * len(xb) / len(X)
    return total
'''),
    # checkpoint and resume
    RightAnswer("tensors cloned by hand, the optimizer's state deep-copied",
                cell="checkpoint", old=None, new='''
def checkpoint(model, optimizer, scheduler, generator):
    return {
        "model": {k: v.detach().clone()
                  for k, v in model.state_dict().items()},
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "scheduler": dict(scheduler.state_dict()),
        "generator": generator.get_state().clone(),
    }


def resume(state, model, optimizer, scheduler, generator):
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
    scheduler.load_state_dict(dict(state["scheduler"]))
    generator.set_state(state["generator"].clone())
'''),
    RightAnswer("torch.save into bytes in memory, torch.load back",
                cell="checkpoint", old=None, new='''
import io


def checkpoint(model, optimizer, scheduler, generator):
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": generator.get_state()}, buffer)
    return {"bytes": buffer.getvalue()}


def resume(state, model, optimizer, scheduler, generator):
    saved = torch.load(io.BytesIO(state["bytes"]))
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    generator.set_state(saved["rng"])
'''),
    # magnitude_prune_
    RightAnswer("argsort, the entries zeroed through .data",
                cell="magnitude_prune_", old=None, new='''
def magnitude_prune_(weight, amount):
    n = weight.numel()
    count = round(amount * n)
    order = weight.detach().abs().reshape(-1).argsort()
    mask = torch.ones(n, dtype=weight.dtype)
    mask[order[:count]] = 0
    mask = mask.reshape(weight.shape)
    weight.data *= mask
    return mask
'''),
    RightAnswer("NumPy's stable sort, a loop over the entries",
                cell="magnitude_prune_", old=None, new='''
import numpy as np


def magnitude_prune_(weight, amount):
    sizes = np.abs(weight.detach().numpy()).ravel()
    k = int(round(amount * sizes.size))
    keep = np.ones(sizes.size)
    for i in np.argsort(sizes, kind="stable")[:k]:
        keep[i] = 0.0
    mask = torch.from_numpy(keep.reshape(tuple(weight.shape))).to(
        weight.dtype)
    with torch.no_grad():
        weight.copy_(weight * mask)
    return mask
'''),
    RightAnswer("a boolean mask from topk, zeros written with masked_fill_",
                cell="magnitude_prune_", old=None, new='''
def magnitude_prune_(weight, amount):
    k = round(amount * weight.numel())
    flat = weight.detach().abs().flatten()
    drop = torch.zeros(flat.numel(), dtype=torch.bool)
    drop[flat.topk(k, largest=False).indices] = True
    drop = drop.view(weight.shape)
    with torch.no_grad():
        weight.masked_fill_(drop, 0.0)
    return (~drop).to(weight.dtype)
'''),
    # freeze_body
    RightAnswer("the head found from the end, requires_grad assigned",
                cell="freeze_body", old=None, new='''
def freeze_body(model):
    head = None
    for layer in reversed(list(model)):
        if isinstance(layer, nn.Linear):
            head = layer
            break
    trainable = 0
    for layer in model:
        for p in layer.parameters():
            p.requires_grad = layer is head
            if p.requires_grad:
                trainable += p.numel()
    return trainable
'''),
    RightAnswer("named parameters, the head's index as a prefix",
                cell="freeze_body", old=None, new='''
def freeze_body(model):
    last = max(i for i, layer in enumerate(model)
               if sum(1 for _ in layer.parameters()) > 0)
    count = 0
    for name, p in model.named_parameters():
        p.requires_grad_(name.split(".")[0] == str(last))
        count += p.numel() if p.requires_grad else 0
    return int(count)
'''),
]
