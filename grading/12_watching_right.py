"""Correct answers of exercise 12_watching written as students write
them, unlike the solution: each must keep every point (see ``catalogue``
and ``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole
cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # grad_norms
    RightAnswer("a dict comprehension with torch.linalg.vector_norm",
                cell="grad_norms", old=None, new='''
def grad_norms(model):
    return {name: float(torch.linalg.vector_norm(p.grad))
            for name, p in model.named_parameters() if p.grad is not None}
'''),
    RightAnswer("the sum of squares in float64, then the root",
                cell="grad_norms", old=None, new='''
import math


def grad_norms(model):
    out = dict()
    for name, param in model.named_parameters():
        g = param.grad
        if g is None:
            continue
        out[name] = math.sqrt((g.double() ** 2).sum().item())
    return out
'''),
    # update_ratio
    RightAnswer("lr outside the norm, 0-d tensors", cell="update_ratio",
                old=None, new='''
def update_ratio(model, lr):
    ratios = {}
    with torch.no_grad():
        for name, w in model.named_parameters():
            if w.grad is not None:
                ratios[name] = lr * w.grad.norm() / w.norm()
    return ratios
'''),
    RightAnswer("grad_norms reused, the weights' norms by NumPy",
                cell="update_ratio", old=None, new='''
import numpy as np


def update_ratio(model, lr):
    norms = grad_norms(model)
    weights = dict(model.named_parameters())
    return {name: abs(lr) * g / float(np.linalg.norm(
        weights[name].detach().numpy().ravel())) for name, g in
        norms.items()}
'''),
    # clip_grad_norm_
    RightAnswer("one flat vector, a Python if for the factor",
                cell="clip_norm", old=None, new='''
import math


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    if torch.is_tensor(parameters):
        parameters = [parameters]
    params = [p for p in parameters if p.grad is not None]
    if len(params) == 0:
        return 0.0
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    if norm_type == math.inf:
        total = flat.abs().max()
    else:
        total = (flat.abs() ** norm_type).sum() ** (1.0 / norm_type)
    coef = max_norm / (total.item() + 1e-6)
    if coef < 1:
        for p in params:
            p.grad.mul_(coef)
    return total
'''),
    RightAnswer("a loop of sums, p.grad replaced by a new tensor",
                cell="clip_norm", old=None, new='''
def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    p_ = float(norm_type)
    if p_ == float("inf"):
        total = max(p.grad.abs().max().item() for p in parameters
                    if p.grad is not None)
    else:
        acc = 0.0
        for p in parameters:
            if p.grad is not None:
                acc += p.grad.abs().pow(p_).sum().item()
        total = acc ** (1 / p_)
    scale = min(1.0, max_norm / (total + 1e-6))
    for p in parameters:
        if p.grad is not None:
            p.grad = p.grad * scale
    return total
'''),
    RightAnswer("torch.no_grad, torch.norm and a tensor factor",
                cell="clip_norm", old=None, new='''
@torch.no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    if isinstance(parameters, torch.Tensor):
        parameters = (parameters,)
    grads = [q.grad for q in parameters if q.grad is not None]
    per_tensor = [torch.norm(g, p=float(norm_type)) for g in grads]
    total = torch.norm(torch.stack(per_tensor), p=float(norm_type))
    factor = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g *= factor
    return total
'''),
    # clip_grad_value_
    RightAnswer("torch.clamp into the gradient's own memory",
                cell="clip_value", old=None, new='''
def clip_grad_value_(parameters, clip_value):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    for p in parameters:
        if p.grad is None:
            continue
        torch.clamp(p.grad, -clip_value, clip_value, out=p.grad)
'''),
    RightAnswer("torch.where, assigned back to .grad", cell="clip_value",
                old=None, new='''
def clip_grad_value_(parameters, clip_value):
    params = [parameters] if torch.is_tensor(parameters) else parameters
    c = float(clip_value)
    for p in params:
        g = p.grad
        if g is not None:
            g = torch.where(g > c, torch.full_like(g, c), g)
            g = torch.where(g < -c, torch.full_like(g, -c), g)
            p.grad = g
'''),
    # confusion_matrix
    RightAnswer("a loop over the examples", cell="confusion", old=None,
                new='''
def confusion_matrix(pred, target, num_classes):
    matrix = torch.zeros((num_classes, num_classes), dtype=torch.long)
    for t, p in zip(target.tolist(), pred.tolist()):
        matrix[t][p] += 1
    return matrix
'''),
    RightAnswer("index_put_ with accumulate=True", cell="confusion",
                old=None, new='''
def confusion_matrix(pred, target, num_classes):
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    ones = torch.ones(len(pred), dtype=torch.int64)
    cm.index_put_((target.long(), pred.long()), ones, accumulate=True)
    return cm
'''),
    RightAnswer("two loops of comparisons", cell="confusion", old=None,
                new='''
def confusion_matrix(pred, target, num_classes):
    rows = []
    for i in range(num_classes):
        rows.append([int(((target == i) & (pred == j)).sum())
                     for j in range(num_classes)])
    return torch.tensor(rows, dtype=torch.int64)
'''),
    # precision_recall_f1
    RightAnswer("F1 as 2TP / (2TP + FP + FN), counted in a loop",
                cell="prf", old=None, new='''
def precision_recall_f1(pred, target, positive):
    tp = fp = fn = 0
    for p, t in zip(pred.tolist(), target.tolist()):
        if p == positive and t == positive:
            tp += 1
        elif p == positive:
            fp += 1
        elif t == positive:
            fn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return precision, recall, f1
'''),
    RightAnswer("the confusion matrix reused", cell="prf", old=None,
                new='''
def precision_recall_f1(pred, target, positive):
    k = int(max(pred.max(), target.max(), positive)) + 1
    cm = confusion_matrix(pred, target, k).double()
    tp = cm[positive, positive]
    predicted = cm[:, positive].sum()
    actual = cm[positive, :].sum()
    precision = (tp / predicted).item() if predicted > 0 else 0.0
    recall = (tp / actual).item() if actual > 0 else 0.0
    f1 = 0.0
    if precision + recall > 0:
        f1 = 2 / (1 / precision + 1 / recall)
    return (precision, recall, f1)
'''),
    # dead_relu_fraction
    RightAnswer("forward hooks on every nn.ReLU", cell="dead", old=None,
                new='''
def dead_relu_fraction(model, X):
    outputs = []
    hooks = [m.register_forward_hook(
        lambda module, inputs, out: outputs.append(out.detach()))
        for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model(X)
    finally:
        for hook in hooks:
            hook.remove()
    return [float((out.max(dim=0).values <= 0).double().mean())
            for out in outputs]
'''),
    RightAnswer("counts of active examples per unit, in NumPy", cell="dead",
                old=None, new='''
import numpy as np


def dead_relu_fraction(model, X):
    result = []
    h = X.detach()
    for layer in model:
        h = layer(h).detach()
        if type(layer) is nn.ReLU:
            fired = (h.numpy() > 0).sum(axis=0)
            result.append(float(np.mean(fired == 0)))
    return result
'''),
]
