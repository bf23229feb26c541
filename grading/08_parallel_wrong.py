"""The catalogue of wrong answers of exercise 08_parallel: each entry one
mistake students make, which must lose the points of the cells in
``loses`` with ``ziptie grade`` and with nbgrader alike (see
``catalogue``)."""

from catalogue import WrongAnswer

_SHUFFLE = """\
    if shuffle:
        generator = torch.Generator()
        generator.manual_seed(seed + epoch)
        order = torch.randperm(n, generator=generator).tolist()"""
_EQUAL = """\
    if drop_last:
        per_rank = n // world_size
        order = order[:per_rank * world_size]
    else:
        per_rank = math.ceil(n / world_size)
        padding = per_rank * world_size - n
        order += (order * math.ceil(padding / n))[:padding]"""
_PAD = "        order += (order * math.ceil(padding / n))[:padding]\n"
_PER_RANK = """\
        indices = shard(len(X), world_size, rank, shuffle=False)
        copied = copy.deepcopy(model)
        loss = loss_fn(copied(X[indices]), y[indices])"""
_EACH_PASS = """\
    for X, y in micro_batches:
        loss = loss_fn(model(X), y) / K
        loss.backward()
        total += loss.item()"""
_ZERO_GRAD = """\
    optimizer.zero_grad()
    K = len(micro_batches)
    total = 0.0
    for X, y in micro_batches:
"""

WRONG_ANSWERS = [
    # shard
    WrongAnswer("contiguous shards, not every world_size-th", cell="shard",
                old="return order[rank::world_size]",
                new="return order[rank * per_rank:(rank + 1) * per_rank]",
                loses=("test_shard",)),
    WrongAnswer("the same shard for every rank", cell="shard",
                old="return order[rank::world_size]",
                new="return order[::world_size]",
                loses=("test_shard", "test_ddp_gradient")),
    WrongAnswer("no padding: shards of unequal size", cell="shard",
                old=_PAD, new="",
                loses=("test_shard", "test_ddp_gradient")),
    WrongAnswer("padded with the last index, not the first ones",
                cell="shard", old=_PAD,
                new="        order += [order[-1]] * padding\n",
                loses=("test_shard", "test_ddp_gradient")),
    WrongAnswer("drop_last ignored: always padded", cell="shard", old=_EQUAL,
                new="""\
    per_rank = math.ceil(n / world_size)
    padding = per_rank * world_size - n
    order += (order * math.ceil(padding / n))[:padding]""",
                loses=("test_shard",)),
    WrongAnswer("drop_last rounds up: the tail is kept, unpadded",
                cell="shard", old="per_rank = n // world_size",
                new="per_rank = math.ceil(n / world_size)",
                loses=("test_shard",)),
    WrongAnswer("shuffled with the seed alone, not seed + epoch",
                cell="shard", old="generator.manual_seed(seed + epoch)",
                new="generator.manual_seed(seed)", loses=("test_shard",)),
    WrongAnswer("shuffled with NumPy's generator", cell="shard",
                old=_SHUFFLE, new="""\
    if shuffle:
        import numpy as np
        order = np.random.default_rng(seed + epoch).permutation(n).tolist()""",
                loses=("test_shard",)),
    WrongAnswer("shuffled without a seeded generator", cell="shard",
                old="torch.randperm(n, generator=generator)",
                new="torch.randperm(n)", loses=("test_shard",)),
    # all_reduce_mean
    WrongAnswer("sum instead of mean", cell="all_reduce_mean",
                old="sum(per_rank) / world_size", new="sum(per_rank)",
                loses=("test_all_reduce", "test_ddp_gradient")),
    WrongAnswer("rank 0's gradient only", cell="all_reduce_mean",
                old="sum(per_rank) / world_size", new="per_rank[0]",
                loses=("test_all_reduce", "test_ddp_gradient")),
    WrongAnswer("divided by the number of parameters, not of ranks",
                cell="all_reduce_mean", old="world_size = len(grads)",
                new="world_size = len(grads[0])",
                loses=("test_all_reduce", "test_ddp_gradient")),
    WrongAnswer("summed in place into rank 0's tensors",
                cell="all_reduce_mean",
                old="        averaged.append(sum(per_rank) / world_size)",
                new="""\
        total = per_rank[0]
        for g in per_rank[1:]:
            total += g
        averaged.append(total / world_size)""",
                loses=("test_all_reduce",)),
    # ddp_gradient
    WrongAnswer("the gradient of the whole batch in every rank",
                cell="ddp_gradient",
                old="loss = loss_fn(copied(X[indices]), y[indices])",
                new="loss = loss_fn(copied(X), y)",
                loses=("test_ddp_gradient",)),
    WrongAnswer("contiguous chunks of the batch (X.chunk), unpadded",
                cell="ddp_gradient", old=_PER_RANK, new="""\
        copied = copy.deepcopy(model)
        loss = loss_fn(copied(X.chunk(world_size)[rank]),
                       y.chunk(world_size)[rank])""",
                loses=("test_ddp_gradient",)),
    WrongAnswer("backward on the model itself: the ranks' gradients add up",
                cell="ddp_gradient", old="copied = copy.deepcopy(model)",
                new="copied = model", loses=("test_ddp_gradient",)),
    WrongAnswer("one copy for every rank: the gradients add up",
                cell="ddp_gradient",
                old="    for rank in range(world_size):\n"
                    "        indices = shard(len(X), world_size, rank, "
                    "shuffle=False)\n"
                    "        copied = copy.deepcopy(model)\n",
                new="    copied = copy.deepcopy(model)\n"
                    "    for rank in range(world_size):\n"
                    "        indices = shard(len(X), world_size, rank, "
                    "shuffle=False)\n",
                loses=("test_ddp_gradient",)),
    # accumulate_step
    WrongAnswer("each loss not divided by K", cell="accumulate_step",
                old="loss = loss_fn(model(X), y) / K",
                new="loss = loss_fn(model(X), y)",
                loses=("test_accumulate",)),
    WrongAnswer("zero_grad for every micro-batch", cell="accumulate_step",
                old=_ZERO_GRAD, new="""\
    K = len(micro_batches)
    total = 0.0
    for X, y in micro_batches:
        optimizer.zero_grad()
""", loses=("test_accumulate",)),
    WrongAnswer("no zero_grad: the last call's gradients add up",
                cell="accumulate_step", old="    optimizer.zero_grad()\n",
                new="", loses=("test_accumulate",)),
    WrongAnswer("a step for every micro-batch", cell="accumulate_step",
                old="        total += loss.item()\n    optimizer.step()",
                new="        total += loss.item()\n        optimizer.step()",
                loses=("test_accumulate",)),
    WrongAnswer("the last micro-batch's loss returned",
                cell="accumulate_step", old="    return total",
                new="    return loss.item() * K", loses=("test_accumulate",)),
    WrongAnswer("the micro-batches joined: one backward pass on the whole "
                "batch", cell="accumulate_step", old=_EACH_PASS, new="""\
    X = torch.cat([x for x, _ in micro_batches])
    y = torch.cat([t for _, t in micro_batches])
    loss = loss_fn(model(X), y)
    loss.backward()
    total = loss.item()""", loses=("test_accumulate",)),
    WrongAnswer("the joined batch in every pass", cell="accumulate_step",
                old=_EACH_PASS, new="""\
    X_all = torch.cat([x for x, _ in micro_batches])
    y_all = torch.cat([t for _, t in micro_batches])
    for X, y in micro_batches:
        loss = loss_fn(model(X_all), y_all) / K
        loss.backward()
        total += loss.item()""", loses=("test_accumulate",)),
    WrongAnswer("zero_grad after the step, not before (gradients already in "
                ".grad count)", cell="accumulate_step",
                old="    optimizer.zero_grad()\n    K = len(micro_batches)\n"
                    "    total = 0.0\n" + _EACH_PASS
                    + "\n    optimizer.step()\n",
                new="    K = len(micro_batches)\n    total = 0.0\n"
                    + _EACH_PASS
                    + "\n    optimizer.step()\n    optimizer.zero_grad()\n",
                loses=("test_accumulate",)),
]
