"""The catalogue of wrong answers of exercise 13_efficiency: each entry
one mistake students make, which must lose the points of the cells in
``loses`` with ``ziptie grade`` and with nbgrader alike (see
``catalogue``)."""

from catalogue import WrongAnswer

_WEIGHTED = "loss = loss_fn(model(xb), yb) * (len(xb) / n)"
_SAVED = '''\
    return copy.deepcopy({"model": model.state_dict(),
                          "optimizer": optimizer.state_dict(),
                          "scheduler": scheduler.state_dict(),
                          "generator": generator.get_state()})'''
_TOPK = '''\
    if k > 0:
        smallest = torch.topk(weight.detach().abs().flatten(), k,
                              largest=False).indices
        mask.view(-1)[smallest] = 0.0'''
_FREEZE = '''\
    for p in model.parameters():
        p.requires_grad_(False)'''
_COUNT = ("    return sum(p.numel() for p in model.parameters() if "
          "p.requires_grad)")
_ACC = ("test_accumulated_grads",)
_CKPT = ("test_checkpoint",)
_PRUNE = ("test_magnitude_prune",)
_FROZEN = ("test_freeze_body",)

WRONG_ANSWERS = [
    # accumulated_grads
    WrongAnswer("the whole batch in one backward pass, no micro-batches",
                cell="accumulated_grads",
                old="        xb = X[start:start + micro_batch_size]\n"
                    "        yb = Y[start:start + micro_batch_size]\n"
                    "        loss = loss_fn(model(xb), yb) * (len(xb) / n)\n"
                    "        loss.backward()\n"
                    "        total += loss.item()\n",
                new="        loss = loss_fn(model(X), Y)\n"
                    "        loss.backward()\n"
                    "        total += loss.item()\n"
                    "        break\n", loses=_ACC),
    WrongAnswer("each micro-batch's mean loss added unweighted",
                cell="accumulated_grads", old=_WEIGHTED,
                new="loss = loss_fn(model(xb), yb)", loses=_ACC),
    WrongAnswer("divided by the number of micro-batches (the smaller last "
                "one weighs as much as a full one)",
                cell="accumulated_grads", old=_WEIGHTED,
                new="loss = loss_fn(model(xb), yb) / -(-n // "
                    "micro_batch_size)", loses=_ACC),
    WrongAnswer("summed over the examples (times the micro-batch's size) "
                "without dividing by N", cell="accumulated_grads",
                old=_WEIGHTED, new="loss = loss_fn(model(xb), yb) * len(xb)",
                loses=_ACC),
    WrongAnswer("the whole batch in every pass (model(X), Y for xb, yb): "
                "the right gradient, without micro-batches",
                cell="accumulated_grads", old=_WEIGHTED,
                new="loss = loss_fn(model(X), Y) * (len(xb) / n)",
                loses=_ACC),
    WrongAnswer("gradients cleared inside the loop (only the last "
                "micro-batch's remain)", cell="accumulated_grads",
                old="        loss.backward()",
                new="        model.zero_grad()\n        loss.backward()",
                loses=_ACC),
    WrongAnswer("the gradients already in .grad not cleared first",
                cell="accumulated_grads", old="    model.zero_grad()\n",
                new="", loses=_ACC),
    WrongAnswer("the last, smaller micro-batch dropped",
                cell="accumulated_grads",
                old="range(0, n, micro_batch_size)",
                new="range(0, n - micro_batch_size + 1, micro_batch_size)",
                loses=_ACC),
    # checkpoint and resume
    WrongAnswer("the state_dict()s kept, not copies (later training "
                "changes the checkpoint)", cell="checkpoint", old=_SAVED,
                new='''\
    return {"model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state()}''', loses=_CKPT),
    WrongAnswer("the optimizer's state not loaded (momentum lost)",
                cell="checkpoint",
                old='    optimizer.load_state_dict(state["optimizer"])\n',
                new="", loses=_CKPT),
    WrongAnswer("only the learning rate of the optimizer restored, not its "
                "momentum buffers", cell="checkpoint",
                old='    optimizer.load_state_dict(state["optimizer"])\n',
                new='''\
    for group, saved in zip(optimizer.param_groups,
                            state["optimizer"]["param_groups"]):
        group["lr"] = saved["lr"]
''', loses=_CKPT),
    WrongAnswer("the scheduler's state not loaded", cell="checkpoint",
                old='    scheduler.load_state_dict(state["scheduler"])\n',
                new="", loses=_CKPT),
    WrongAnswer("the generator's state not restored (other batches)",
                cell="checkpoint",
                old='    generator.set_state(state["generator"])\n',
                new="", loses=_CKPT),
    WrongAnswer("resume loads the checkpoint's own tensors (training "
                "after one resume changes it)", cell="checkpoint",
                old="    state = copy.deepcopy(state)\n", new="",
                loses=_CKPT),
    # magnitude_prune_
    WrongAnswer("the largest weights pruned", cell="magnitude_prune_",
                old="largest=False", new="largest=True", loses=_PRUNE),
    WrongAnswer("pruned by value, not magnitude (the most negative first)",
                cell="magnitude_prune_",
                old="weight.detach().abs().flatten()",
                new="weight.detach().flatten()", loses=_PRUNE),
    WrongAnswer("the count truncated with int(), not rounded",
                cell="magnitude_prune_",
                old="k = round(amount * weight.numel())",
                new="k = int(amount * weight.numel())", loses=_PRUNE),
    WrongAnswer("a threshold at the k-th smallest |w|, all ties pruned "
                "(too many)", cell="magnitude_prune_", old=_TOPK, new='''\
    if k > 0:
        size = weight.detach().abs()
        threshold = size.flatten().kthvalue(k).values
        mask = (size > threshold).to(weight.dtype)''', loses=_PRUNE),
    WrongAnswer("a copy pruned, the weight left as it was",
                cell="magnitude_prune_", old="weight.mul_(mask)",
                new="weight = weight * mask", loses=_PRUNE),
    WrongAnswer("changed in place outside torch.no_grad() (a weight that "
                "requires grad refuses)", cell="magnitude_prune_",
                old="    with torch.no_grad():\n        weight.mul_(mask)",
                new="    weight.mul_(mask)", loses=_PRUNE),
    # freeze_body
    WrongAnswer("the weights frozen, the biases left trainable",
                cell="freeze_body", old=_FREEZE, new='''\
    for layer in layers:
        layer.weight.requires_grad_(False)''', loses=_FROZEN),
    WrongAnswer("requires_grad set on the modules, not their parameters "
                "(nothing frozen)", cell="freeze_body", old=_FREEZE,
                new='''\
    for layer in model:
        layer.requires_grad = False''', loses=_FROZEN),
    WrongAnswer("the last module taken as the head (a model ending in an "
                "activation is frozen whole)", cell="freeze_body",
                old="layers[-1].parameters()", new="model[-1].parameters()",
                loses=_FROZEN),
    WrongAnswer("counts the trainable tensors, not their numbers",
                cell="freeze_body", old=_COUNT,
                new="    return len([p for p in model.parameters() if "
                    "p.requires_grad])", loses=_FROZEN),
    WrongAnswer("counts every number, the frozen ones too",
                cell="freeze_body", old=" if p.requires_grad)", new=")",
                loses=_FROZEN),
    WrongAnswer("all but the last two parameter tensors frozen (as if the "
                "head always had a bias)", cell="freeze_body",
                old="""\
    layers = [layer for layer in model if list(layer.parameters())]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in layers[-1].parameters():
        p.requires_grad_(True)""", new="""\
    params = list(model.parameters())
    for p in params[:-2]:
        p.requires_grad_(False)
    for p in params[-2:]:
        p.requires_grad_(True)""", loses=("test_freeze_body",)),
    WrongAnswer("the head taken as model[-1], or model[-2] when the model "
                "ends in an activation", cell="freeze_body",
                old="layers[-1].parameters()",
                new="(model[-1] if list(model[-1].parameters()) else "
                    "model[-2]).parameters()",
                loses=("test_freeze_body",)),
]
