"""Correct answers of exercise 08_parallel written as students write them,
unlike the solution: each must keep every point (see ``catalogue`` and
``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # shard
    RightAnswer("a while loop pads, a loop with a step picks", cell="shard",
                old=None, new='''
def shard(n, world_size, rank, epoch=0, seed=0, shuffle=True,
          drop_last=False):
    if shuffle:
        g = torch.Generator().manual_seed(seed + epoch)
        order = [int(i) for i in torch.randperm(n, generator=g)]
    else:
        order = [i for i in range(n)]
    if drop_last:
        del order[len(order) - len(order) % world_size:]
    else:
        k = 0
        while len(order) % world_size != 0:
            order.append(order[k])
            k += 1
    mine = []
    for position in range(rank, len(order), world_size):
        mine.append(order[position])
    return mine
'''),
    RightAnswer("tensors throughout, the total size first", cell="shard",
                old=None, new='''
def shard(n, world_size, rank, epoch=0, seed=0, shuffle=True,
          drop_last=False):
    if drop_last and n % world_size != 0:
        num_samples = (n - world_size + world_size - 1) // world_size
    else:
        num_samples = -(-n // world_size)
    total_size = num_samples * world_size
    if shuffle:
        gen = torch.Generator()
        gen.manual_seed(seed + epoch)
        indices = torch.randperm(n, generator=gen)
    else:
        indices = torch.arange(n)
    if total_size > n:
        repeats = -(-total_size // n)
        indices = indices.repeat(repeats)
    indices = indices[:total_size]
    return indices[rank::world_size].tolist()
'''),
    RightAnswer("a reshape to (per rank, world size), one column",
                cell="shard", old=None, new='''
def shard(n, world_size, rank, epoch=0, seed=0, shuffle=True,
          drop_last=False):
    import numpy as np

    if shuffle:
        generator = torch.Generator()
        generator.manual_seed(seed + epoch)
        order = torch.randperm(n, generator=generator).numpy()
    else:
        order = np.arange(n)
    rows = n // world_size if drop_last else math.ceil(n / world_size)
    order = np.resize(order, rows * world_size)   # repeats from the start
    return order.reshape(rows, world_size)[:, rank].tolist()
'''),
    # all_reduce_mean
    RightAnswer("torch.stack and mean", cell="all_reduce_mean", old=None,
                new='''
def all_reduce_mean(grads):
    num_params = len(grads[0])
    return [torch.stack([rank_grads[i] for rank_grads in grads]).mean(dim=0)
            for i in range(num_params)]
'''),
    RightAnswer("indices, a running total, then divided", cell="all_reduce_mean",
                old=None, new='''
def all_reduce_mean(grads):
    world_size = len(grads)
    result = []
    for i in range(len(grads[0])):
        total = torch.zeros_like(grads[0][i])
        for r in range(world_size):
            total = total + grads[r][i]
        result.append(total / world_size)
    return result
'''),
    RightAnswer("clones, added in place, divided in place",
                cell="all_reduce_mean", old=None, new='''
def all_reduce_mean(grads):
    out = [g.clone() for g in grads[0]]
    for other in grads[1:]:
        for acc, g in zip(out, other):
            acc.add_(g)
    for acc in out:
        acc.div_(len(grads))
    return out
'''),
    # ddp_gradient
    RightAnswer("torch.autograd.grad, gradients summed and divided",
                cell="ddp_gradient", old=None, new='''
def ddp_gradient(model, loss_fn, X, y, world_size):
    total = None
    for rank in range(world_size):
        idx = torch.tensor(shard(len(X), world_size, rank, shuffle=False))
        replica = copy.deepcopy(model)
        params = list(replica.parameters())
        loss = loss_fn(replica(X[idx]), y[idx])
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g
                 for p, g in zip(params, grads)]
        total = grads if total is None else [
            t + g for t, g in zip(total, grads)]
    return [t / world_size for t in total]
'''),
    RightAnswer("the sampler without shuffling, index_select",
                cell="ddp_gradient", old=None, new='''
def ddp_gradient(model, loss_fn, X, y, world_size):
    per_rank = []
    for rank in range(world_size):
        sampler = DistributedSampler(range(len(X)), num_replicas=world_size,
                                     rank=rank, shuffle=False)
        index = torch.tensor(list(sampler), dtype=torch.long)
        twin = copy.deepcopy(model)
        twin.zero_grad()
        loss_fn(twin(X.index_select(0, index)), y.index_select(0, index)
                ).backward()
        per_rank.append([p.grad.detach().clone() for p in
                         twin.parameters()])
    return all_reduce_mean(per_rank)
'''),
    RightAnswer("the padded batch at once: equal shards average to it",
                cell="ddp_gradient", old=None, new='''
def ddp_gradient(model, loss_fn, X, y, world_size):
    # equal shards: the mean of their mean losses is the mean loss of all
    # their examples together, the padded batch
    padded = []
    for rank in range(world_size):
        padded += shard(len(X), world_size, rank, shuffle=False)
    twin = copy.deepcopy(model)
    loss_fn(twin(X[padded]), y[padded]).backward()
    return [p.grad.clone() for p in twin.parameters()]
'''),
    # accumulate_step
    RightAnswer("the losses kept in a list, averaged at the end",
                cell="accumulate_step", old=None, new='''
def accumulate_step(model, loss_fn, optimizer, micro_batches):
    optimizer.zero_grad()
    losses = []
    for X_micro, y_micro in micro_batches:
        loss = loss_fn(model(X_micro), y_micro)
        (loss / len(micro_batches)).backward()
        losses.append(loss.item())
    optimizer.step()
    return sum(losses) / len(losses)
'''),
    RightAnswer("zero_grad before and after, an index loop",
                cell="accumulate_step", old=None, new='''
def accumulate_step(model, loss_fn, optimizer, micro_batches):
    k = len(micro_batches)
    optimizer.zero_grad()
    mean_loss = 0.0
    for i in range(k):
        X, y = micro_batches[i]
        scaled = loss_fn(model(X), y) * (1.0 / k)
        scaled.backward()
        mean_loss += float(scaled)
    optimizer.step()
    optimizer.zero_grad()
    return mean_loss
'''),
    RightAnswer("each loss weighted by its share of the examples",
                cell="accumulate_step", old=None, new='''
def accumulate_step(model, loss_fn, optimizer, micro_batches):
    n_total = sum(len(X) for X, _ in micro_batches)
    optimizer.zero_grad(set_to_none=False)
    weighted = torch.tensor(0.0)
    for X, y in micro_batches:
        loss = loss_fn(model(X), y) * (len(X) / n_total)
        loss.backward()
        weighted = weighted + loss.detach()
    optimizer.step()
    return weighted.item()
'''),
]
