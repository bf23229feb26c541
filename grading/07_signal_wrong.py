"""The catalogue of wrong answers of exercise 07_signal: each entry one
mistake students make, which must lose the points of the cells in
``loses`` with ``ziptie grade`` and with nbgrader alike (see
``catalogue``)."""

from catalogue import WrongAnswer

_ZERO_GRAD = """\
    optimizer.zero_grad()
    loss.backward()"""
_FRESH = """\
        copied = copy.deepcopy(model)
        optimizer = optimizer_class(copied.parameters(), **settings)"""
_SCALED = """\
        optimizer = optimizer_class(copied.parameters(), **settings)

        def scaled_loss(pred, target):
            return scale * loss_fn(pred, target)"""
# The learning rate times c instead of the loss: the same for SGD, and
# exactly the thing Adam does not undo.
_LR_SCALED = """\
        optimizer = optimizer_class(copied.parameters(),
                                    **dict(settings, lr=scale * settings["lr"]))

        def scaled_loss(pred, target):
            return loss_fn(pred, target)"""
_SCALE_LAST = "            linears[-1].weight *= factor"

_EVERY_STEP = """\
    for X, y in batches:
        weight, grad, step = measure_step(model, loss_fn, X, y, optimizer)"""

WRONG_ANSWERS = [
    WrongAnswer("the copy before the step shares memory (detach, no clone)",
                cell="measure_step",
                old="before = [p.detach().clone() for p in params]",
                new="before = [p.detach() for p in params]",
                loses=("test_measure_step", "test_loss_scale")),
    WrongAnswer("no zero_grad: gradients of earlier calls add up",
                cell="measure_step", old=_ZERO_GRAD,
                new="    loss.backward()",
                loses=("test_measure_step", "test_who_moves")),
    WrongAnswer("zero_grad after backward: the gradient is thrown away",
                cell="measure_step", old=_ZERO_GRAD,
                new="    loss.backward()\n    optimizer.zero_grad()",
                loses=("test_measure_step", "test_who_moves",
                       "test_loss_scale")),
    WrongAnswer("the step computed as lr * |grad|, as if plain SGD",
                cell="measure_step",
                old="step = [(p.detach() - b).abs() for p, b in "
                    "zip(params, before)]",
                new='step = [optimizer.param_groups[0]["lr"] * g for g in '
                    'grad]',
                loses=("test_measure_step", "test_loss_scale")),
    WrongAnswer("|w| after the step, not before", cell="measure_step",
                old="weight = [b.abs() for b in before]",
                new="weight = [p.detach().abs() for p in params]",
                loses=("test_measure_step",)),
    WrongAnswer("the change of the size, not the size of the change",
                cell="measure_step", old="(p.detach() - b).abs()",
                new="(p.detach().abs() - b.abs()).abs()",
                loses=("test_measure_step", "test_loss_scale")),
    WrongAnswer("the step with its sign", cell="measure_step",
                old="(p.detach() - b).abs()", new="(p.detach() - b)",
                loses=("test_measure_step", "test_loss_scale")),
    WrongAnswer("who_moves: the measurements summed over all the steps, "
                "not the last step's", cell="who_moves",
                old=_EVERY_STEP, new="""\
    totals = None
    for X, y in batches:
        measured = measure_step(model, loss_fn, X, y, optimizer)
        totals = measured if totals is None else [
            [a + b for a, b in zip(s, m)] for s, m in zip(totals, measured)]
    weight, grad, step = totals""", loses=("test_who_moves",)),
    WrongAnswer("who_moves: the first step's measurements, not the last's",
                cell="who_moves", old=_EVERY_STEP, new="""\
    first = None
    for X, y in batches:
        measured = measure_step(model, loss_fn, X, y, optimizer)
        first = first or measured
    weight, grad, step = first""", loses=("test_who_moves",)),
    WrongAnswer("the smallest first (ascending order)", cell="overlap",
                old="descending=True", new="descending=False",
                loses=("test_overlap", "test_who_moves")),
    WrongAnswer("a count, not a share", cell="overlap",
                old="return len(top_a & top_b) / k",
                new="return len(top_a & top_b)",
                loses=("test_overlap", "test_who_moves")),
    WrongAnswer("sets of tensors, which no other tensor equals",
                cell="overlap",
                old="    top_a = set(top_k(a, k).tolist())\n"
                    "    top_b = set(top_k(b, k).tolist())",
                new="    top_a = set(top_k(a, k))\n"
                    "    top_b = set(top_k(b, k))",
                loses=("test_overlap", "test_who_moves")),
    WrongAnswer("ranked by signed value, not by size", cell="overlap",
                old="v.detach().abs().flatten()", new="v.detach().flatten()",
                loses=("test_overlap",)),
    WrongAnswer("torch's default sort, not a stable one (ties keep their "
                "order only up to 16 entries)", cell="overlap",
                old="torch.argsort(sizes, descending=True, stable=True)",
                new="torch.argsort(sizes, descending=True)",
                loses=("test_overlap",)),
    WrongAnswer("a and b must have the same shapes, not only as many "
                "entries", cell="overlap",
                old="if sum(v.numel() for v in a) != sum(v.numel() for v "
                    "in b):",
                new="if [v.shape for v in a] != [v.shape for v in b]:",
                loses=("test_overlap",)),
    WrongAnswer("ties to the later position", cell="overlap",
                old="torch.argsort(sizes, descending=True, stable=True)",
                new="torch.argsort(sizes, stable=True).flip(0)",
                loses=("test_overlap",)),
    WrongAnswer("k = 0 accepted", cell="overlap",
                old="1 <= k <= len(sizes)", new="0 <= k <= len(sizes)",
                loses=("test_overlap",)),
    WrongAnswer("a compared with itself", cell="overlap",
                old="top_b = set(top_k(b, k).tolist())",
                new="top_b = set(top_k(a, k).tolist())",
                loses=("test_overlap", "test_who_moves")),
    WrongAnswer("the weight share taken from the gradient", cell="who_moves",
                old='"weight": overlap(weight, step, k)}\n    return',
                new='"weight": overlap(grad, step, k)}\n    return',
                loses=("test_who_moves",)),
    WrongAnswer("the learning rate scaled, not the loss",
                cell="loss_scale_ratio", old=_SCALED, new=_LR_SCALED,
                loses=("test_loss_scale",)),
    WrongAnswer("both steps on the model itself", cell="loss_scale_ratio",
                old="        copied = copy.deepcopy(model)\n",
                new="        copied = model\n",
                loses=("test_loss_scale",)),
    WrongAnswer("one copy and one optimizer for both steps",
                cell="loss_scale_ratio",
                old="    for scale in (1.0, c):\n" + _FRESH,
                new=_FRESH.replace("        ", "    ")
                + "\n    for scale in (1.0, c):",
                loses=("test_loss_scale",)),
    WrongAnswer("the prediction scaled, not the loss", cell="loss_scale_ratio",
                old="return scale * loss_fn(pred, target)",
                new="return loss_fn(scale * pred, target)",
                loses=("test_loss_scale",)),
    WrongAnswer("the last layer's bias scaled too", cell="gradient_gain",
                old=_SCALE_LAST,
                new="            for p in linears[-1].parameters():\n"
                    "                p *= factor",
                loses=("test_gradient_gain",)),
    WrongAnswer("model[2] scaled, the last layer only in a two-layer net",
                cell="gradient_gain", old=_SCALE_LAST,
                new="            copied[2].weight *= factor",
                loses=("test_gradient_gain",)),
    WrongAnswer("the gradient of the last layer measured, not the first",
                cell="gradient_gain",
                old="norms.append(linears[0].weight.grad.norm())",
                new="norms.append(linears[-1].weight.grad.norm())",
                loses=("test_gradient_gain",)),
]
