"""Correct answers of exercise 02_loss written as students write them,
unlike the solution: each must keep every point (see ``catalogue`` and
``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # mse
    RightAnswer("a loop over the flattened entries", cell="mse", old=None,
                new='''
def mse(pred, y):
    total = 0.0
    for p_i, y_i in zip(np.ravel(pred), np.ravel(y)):
        total += (p_i - y_i) ** 2
    return total / np.size(pred)
'''),
    RightAnswer("mse in torch", cell="mse", old=None, new='''
def mse(pred, y):
    error = torch.as_tensor(pred) - torch.as_tensor(y)
    return error.pow(2).mean().item()
'''),
    RightAnswer("a dot product of the errors", cell="mse", old=None, new='''
def mse(pred, y):
    err = (np.asarray(pred, dtype=np.float64) - y).reshape(-1)
    return float(err @ err / err.size)
'''),
    # softmax
    RightAnswer("softmax row by row", cell="softmax", old=None, new='''
def softmax(z):
    probs = np.zeros_like(z, dtype=float)
    for i, row in enumerate(z):
        e = np.exp(row - np.max(row))
        probs[i] = e / np.sum(e)
    return probs
'''),
    RightAnswer("exp of the log-probabilities", cell="softmax", old=None,
                new='''
def softmax(z):
    m = np.max(z, axis=1)[:, np.newaxis]
    log_norm = m + np.log(np.sum(np.exp(z - m), axis=1))[:, np.newaxis]
    return np.exp(z - log_norm)
'''),
    RightAnswer("softmax in torch", cell="softmax", old=None, new='''
def softmax(z):
    t = torch.from_numpy(np.asarray(z, dtype=np.float64))
    t = t - t.amax(dim=1, keepdim=True)
    e = t.exp()
    return (e / e.sum(dim=1, keepdim=True)).numpy()
'''),
    # cross_entropy
    RightAnswer("a loop with math.log and math.exp", cell="cross_entropy",
                old=None, new='''
import math


def cross_entropy(logits, y):
    total = 0.0
    for row, label in zip(logits, y):
        top = max(row)
        log_sum = top + math.log(sum(math.exp(v - top) for v in row))
        total += log_sum - row[label]
    return total / len(y)
'''),
    RightAnswer("np.logaddexp.reduce", cell="cross_entropy", old=None,
                new='''
def cross_entropy(logits, y):
    lse = np.logaddexp.reduce(logits, axis=1)
    picked = logits[np.arange(len(y)), y]
    return float(np.mean(lse - picked))
'''),
    RightAnswer("one-hot targets in NumPy", cell="cross_entropy", old=None, new='''
def cross_entropy(logits, y):
    n, k = logits.shape
    targets = np.eye(k)[y]
    m = logits.max(axis=1, keepdims=True)
    log_p = logits - m - np.log(np.exp(logits - m).sum(axis=1,
                                                        keepdims=True))
    return float(-(targets * log_p).sum() / n)
'''),
    # accuracy
    RightAnswer("counting in a loop", cell="accuracy", old=None, new='''
def accuracy(logits, y):
    correct = 0
    for scores, label in zip(logits, y):
        if np.argmax(scores) == label:
            correct += 1
    return correct / len(y)
'''),
    RightAnswer("accuracy in torch, a float32 mean", cell="accuracy", old=None,
                new='''
def accuracy(logits, y):
    predicted = torch.as_tensor(logits).argmax(dim=1)
    return (predicted == torch.as_tensor(y)).float().mean().item()
'''),
    RightAnswer("count_nonzero", cell="accuracy", old=None, new='''
def accuracy(logits, y):
    hits = np.count_nonzero(np.argmax(logits, axis=1) == y)
    return hits / y.shape[0]
'''),
    # cross_entropy_torch
    RightAnswer("a log_softmax of its own, gather", cell="cross_entropy_torch",
                old=None, new='''
def log_softmax(z):
    m = z.max(dim=1, keepdim=True).values
    return z - m - torch.log(torch.exp(z - m).sum(dim=1, keepdim=True))


def cross_entropy_torch(logits, y):
    picked = log_softmax(logits).gather(1, y.view(-1, 1)).squeeze(1)
    return -picked.mean()
'''),
    RightAnswer("the max detached, log-sum-exp minus the label's score",
                cell="cross_entropy_torch", old=None, new='''
def cross_entropy_torch(logits, y):
    n = logits.shape[0]
    m = logits.detach().amax(dim=1)
    lse = m + (logits - m[:, None]).exp().sum(dim=1).log()
    rows = torch.arange(n, device=logits.device)
    return (lse - logits[rows, y]).sum() / n
'''),
    RightAnswer("float64 inside, the input's dtype out",
                cell="cross_entropy_torch", old=None, new='''
def cross_entropy_torch(logits, y):
    z = logits.double()
    z = z - z.max(dim=1, keepdim=True).values
    log_probs = z - z.exp().sum(dim=1, keepdim=True).log()
    idx = torch.arange(z.shape[0], device=z.device)
    return (-log_probs[idx, y].mean()).to(logits.dtype)
'''),
    RightAnswer("one-hot targets, a float64 loss",
                cell="cross_entropy_torch", old=None, new='''
def cross_entropy_torch(logits, y):
    z = logits.to(torch.float64)
    shifted = z - torch.max(z, dim=1, keepdim=True)[0]
    log_probs = shifted - torch.log(torch.sum(torch.exp(shifted), dim=1,
                                              keepdim=True))
    onehot = torch.nn.functional.one_hot(y, num_classes=z.shape[1])
    return -(onehot * log_probs).sum(dim=1).mean()
'''),
]
