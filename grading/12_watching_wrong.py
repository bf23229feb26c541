"""The catalogue of wrong answers of exercise 12_watching: each entry one
mistake students make, which must lose the points of the cells in
``loses`` with ``ziptie grade`` and with nbgrader alike (see
``catalogue``)."""

from catalogue import WrongAnswer

_CLIP = """\
    clip_coef = max_norm / (total_norm + 1e-6)
    clip_coef = torch.clamp(clip_coef, max=1.0)
    for g in grads:
        g.mul_(clip_coef)"""
_COUNTS = """\
    tp = (predicted & actual).sum().item()
    fp = (predicted & ~actual).sum().item()
    fn = (~predicted & actual).sum().item()"""
_PRF = """\
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0"""

WRONG_ANSWERS = [
    # grad_norms
    WrongAnswer("the norms of the weights, not of their gradients",
                cell="grad_norms", old="p.grad.norm().item()",
                new="p.detach().norm().item()",
                loses=("test_grad_norms",)),
    WrongAnswer("the squared norm (no square root)", cell="grad_norms",
                old="p.grad.norm().item()",
                new="p.grad.pow(2).sum().item()",
                loses=("test_grad_norms",)),
    WrongAnswer("a parameter without a gradient reported as 0",
                cell="grad_norms", old="""\
        if p.grad is not None:
            norms[name] = p.grad.norm().item()""", new="""\
        norms[name] = 0.0 if p.grad is None else p.grad.norm().item()""",
                loses=("test_grad_norms",)),
    WrongAnswer("the largest entry of the gradient (the infinity norm)",
                cell="grad_norms", old="p.grad.norm().item()",
                new="p.grad.abs().max().item()",
                loses=("test_grad_norms",)),
    # update_ratio
    WrongAnswer("the ratio of the gradient, not of lr times the gradient",
                cell="update_ratio", old="(lr * p.grad).norm().item()",
                new="p.grad.norm().item()", loses=("test_update_ratio",)),
    WrongAnswer("the ratio upside down (weights over step)",
                cell="update_ratio",
                old="ratios[name] = step / p.detach().norm().item()",
                new="ratios[name] = p.detach().norm().item() / step",
                loses=("test_update_ratio",)),
    WrongAnswer("the SGD step taken to measure it (the model changed)",
                cell="update_ratio", old="""\
            step = (lr * p.grad).norm().item()
            ratios[name] = step / p.detach().norm().item()""", new="""\
            before = p.detach().clone()
            with torch.no_grad():
                p -= lr * p.grad
            step = (p.detach() - before).norm().item()
            ratios[name] = step / before.norm().item()""",
                loses=("test_update_ratio",)),
    # clip_grad_norm_
    WrongAnswer("the factor not clamped to 1 (small gradients scaled up)",
                cell="clip_norm",
                old="    clip_coef = torch.clamp(clip_coef, max=1.0)\n",
                new="", loses=("test_clip_grad_norm",)),
    WrongAnswer("each tensor clipped by its own norm, not the total",
                cell="clip_norm", old=_CLIP, new="""\
    for g in grads:
        own = torch.linalg.vector_norm(g, norm_type)
        g.mul_(torch.clamp(max_norm / (own + 1e-6), max=1.0))""",
                loses=("test_clip_grad_norm",)),
    WrongAnswer("the 1e-6 left out of the factor", cell="clip_norm",
                old="max_norm / (total_norm + 1e-6)",
                new="max_norm / total_norm", loses=("test_clip_grad_norm",)),
    WrongAnswer("returns the norm after clipping", cell="clip_norm",
                old="    return total_norm\n", new="""\
    return torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(g, norm_type) for g in grads]), norm_type)
""", loses=("test_clip_grad_norm",)),
    WrongAnswer("a generator of parameters read twice (nothing clipped)",
                cell="clip_norm",
                old="grads = [p.grad for p in parameters if p.grad is not "
                    "None]",
                new="grads = (p.grad for p in parameters if p.grad is not "
                    "None)", loses=("test_clip_grad_norm",)),
    WrongAnswer("only the positive side clipped", cell="clip_value",
                old="p.grad.clamp_(min=-clip_value, max=clip_value)",
                new="p.grad.clamp_(max=clip_value)",
                loses=("test_clip_grad_value",)),
    WrongAnswer("the sizes clipped, the signs lost", cell="clip_value",
                old="p.grad.clamp_(min=-clip_value, max=clip_value)",
                new="p.grad.copy_(p.grad.abs().clamp(max=clip_value))",
                loses=("test_clip_grad_value",)),
    WrongAnswer("clipped copies (value): the gradients unchanged",
                cell="clip_value",
                old="p.grad.clamp_(min=-clip_value, max=clip_value)",
                new="grad = p.grad.clamp(min=-clip_value, max=clip_value)",
                loses=("test_clip_grad_value",)),
    WrongAnswer("clip_grad_value_: a single tensor iterated as a list",
                cell="clip_value", old="""\
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
""", new="", loses=("test_clip_grad_value",)),
    # confusion_matrix
    WrongAnswer("the confusion matrix transposed (rows the predictions)",
                cell="confusion", old="target * k + pred",
                new="pred * k + target", loses=("test_confusion_matrix",)),
    WrongAnswer("counts by indexed +=, which counts a repeated pair once",
                cell="confusion", old="""\
    counts = torch.bincount(target * k + pred, minlength=k * k)
    return counts.reshape(k, k)""", new="""\
    counts = torch.zeros(k, k, dtype=torch.int64)
    counts[target, pred] += 1
    return counts""", loses=("test_confusion_matrix",)),
    WrongAnswer("the number of classes taken from the labels",
                cell="confusion", old="k = num_classes",
                new="k = int(torch.max(pred.max(), target.max())) + 1",
                loses=("test_confusion_matrix",)),
    WrongAnswer("counts as floats", cell="confusion",
                old="return counts.reshape(k, k)",
                new="return counts.reshape(k, k).float()",
                loses=("test_confusion_matrix",)),
    # precision_recall_f1
    WrongAnswer("precision and recall swapped", cell="prf",
                old="return precision, recall, f1",
                new="return recall, precision, f1",
                loses=("test_precision_recall_f1",)),
    WrongAnswer("F1 as the arithmetic mean of precision and recall",
                cell="prf",
                old="f1 = 2 * precision * recall / (precision + recall)",
                new="f1 = (precision + recall) / 2",
                loses=("test_precision_recall_f1",)),
    WrongAnswer("0 / 0 gives nan", cell="prf", old=_PRF, new="""\
    precision = tp / (tp + fp) if tp + fp > 0 else float("nan")
    recall = tp / (tp + fn) if tp + fn > 0 else float("nan")""",
                loses=("test_precision_recall_f1",)),
    WrongAnswer("the macro average over the classes, not the positive one",
                cell="prf", old=_COUNTS + "\n" + _PRF, new="""\
    precisions, recalls = [], []
    for c in range(int(max(pred.max(), target.max())) + 1):
        tp = ((pred == c) & (target == c)).sum().item()
        fp = ((pred == c) & (target != c)).sum().item()
        fn = ((pred != c) & (target == c)).sum().item()
        precisions.append(tp / (tp + fp) if tp + fp > 0 else 0.0)
        recalls.append(tp / (tp + fn) if tp + fn > 0 else 0.0)
    precision = sum(precisions) / len(precisions)
    recall = sum(recalls) / len(recalls)""",
                loses=("test_precision_recall_f1",)),
    WrongAnswer("false positives and false negatives mixed up", cell="prf",
                old="fp = (predicted & ~actual)",
                new="fp = (~predicted & actual)",
                loses=("test_precision_recall_f1",)),
    # dead_relu_fraction
    WrongAnswer("the fraction of zero outputs overall, not of units never "
                "active", cell="dead", old="""\
                active = (h > 0).any(dim=0)
                fractions.append(1.0 - active.float().mean().item())""",
                new="""\
                fractions.append((h == 0).float().mean().item())""",
                loses=("test_dead_relus",)),
    WrongAnswer("a unit counted dead when it is off on any example",
                cell="dead", old="(h > 0).any(dim=0)",
                new="(h > 0).all(dim=0)", loses=("test_dead_relus",)),
    WrongAnswer("the examples counted instead of the units (wrong axis)",
                cell="dead", old="(h > 0).any(dim=0)",
                new="(h > 0).any(dim=1)", loses=("test_dead_relus",)),
]
