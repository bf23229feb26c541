"""Correct answers of exercise 04_step written as students write them,
unlike the solution: each must keep every point (see ``catalogue`` and
``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # sgd_step
    RightAnswer("sub_ in place, no_grad inside the loop", cell="sgd_step",
                old=None, new='''
def sgd_step(params, lr):
    for param in params:
        if param.grad is None:
            continue
        with torch.no_grad():
            param.sub_(lr * param.grad)
'''),
    RightAnswer("in place through .data", cell="sgd_step", old=None, new='''
def sgd_step(params, lr):
    for p in params:
        if p.grad is not None:
            p.data.add_(p.grad, alpha=-lr)
'''),
    RightAnswer("float64 inside, copied back into the parameter",
                cell="sgd_step", old=None, new='''
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                new = p.double() - lr * p.grad.double()
                p.copy_(new.to(p.dtype))
'''),
    RightAnswer("entry by entry through a flat view", cell="sgd_step",
                old=None, new='''
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            flat, grad = p.view(-1), p.grad.reshape(-1)
            for i in range(flat.numel()):
                flat[i] -= lr * grad[i]
'''),
    # zero_grad
    RightAnswer("zeros in place", cell="zero_grad", old=None, new='''
def zero_grad(params):
    for p in params:
        if p.grad is not None:
            p.grad.zero_()
'''),
    RightAnswer("detach, then zeros, as torch once did", cell="zero_grad",
                old=None, new='''
def zero_grad(params):
    for param in params:
        grad = param.grad
        if grad is not None:
            grad.detach_()
            grad.zero_()
'''),
    RightAnswer("None only where there is a gradient", cell="zero_grad",
                old=None, new='''
def zero_grad(params):
    for tensor in list(params):
        if tensor.grad is not None:
            tensor.grad = None
'''),
    RightAnswer("fresh zeros", cell="zero_grad", old=None, new='''
def zero_grad(params):
    for p in params:
        p.grad = torch.zeros_like(p)
'''),
    # train_regression
    RightAnswer("F.mse_loss, float(loss), requires_grad_()",
                cell="train_regression", old=None, new='''
def train_regression(X, y, lr, num_steps):
    n, d = X.shape
    w = torch.zeros(d, dtype=X.dtype, device=X.device).requires_grad_()
    b = torch.tensor(0.0, dtype=X.dtype, device=X.device,
                     requires_grad=True)
    history = []
    for _ in range(num_steps):
        loss = torch.nn.functional.mse_loss(X @ w + b, y)
        history.append(float(loss))
        zero_grad([w, b])
        loss.backward()
        sgd_step([w, b], lr=lr)
    return w, b, history
'''),
    RightAnswer("a sum over features, sum / n", cell="train_regression",
                old=None, new='''
def train_regression(X, y, lr, num_steps):
    w = torch.zeros(X.shape[1], device=X.device, dtype=X.dtype,
                    requires_grad=True)
    b = torch.zeros((), device=X.device, dtype=X.dtype, requires_grad=True)
    params = [w, b]
    losses = []
    step = 0
    while step < num_steps:
        y_hat = (X * w).sum(dim=1) + b
        loss = ((y_hat - y) ** 2).sum() / len(y)
        zero_grad(params)
        loss.backward()
        sgd_step(params, lr)
        losses.append(loss.item())
        step += 1
    return w, b, losses
'''),
    RightAnswer("the loss computed in float64", cell="train_regression",
                old=None, new='''
def train_regression(X, y, lr, num_steps):
    w = torch.zeros(X.shape[1], device=X.device, dtype=X.dtype,
                    requires_grad=True)
    b = torch.zeros((), device=X.device, dtype=X.dtype, requires_grad=True)
    losses = []
    for step in range(num_steps):
        pred = X.double() @ w.double() + b.double()
        loss = (pred - y.double()).pow(2).mean()
        zero_grad([w, b])
        loss.backward()
        sgd_step([w, b], lr)
        losses.append(loss.item())
    return w, b, losses
'''),
    # fixed_training_loop
    RightAnswer("model.zero_grad()", cell="fixed_training_loop", old=None,
                new='''
def fixed_training_loop(model, X, y, lr, num_steps):
    losses = []
    for step in range(num_steps):
        pred = model(X)[:, 0]
        loss = ((pred - y) ** 2).mean()
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        losses.append(loss.item())
    return losses
'''),
    RightAnswer("the buggy loop with .grad set to None before backward",
                cell="fixed_training_loop", old=None, new='''
def fixed_training_loop(model, X, y, lr, num_steps):
    losses = []
    for step in range(num_steps):
        pred = model(X)[:, 0]
        loss = ((pred - y) ** 2).mean()
        for p in model.parameters():
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        losses.append(loss.item())
    return losses
'''),
    RightAnswer("F.mse_loss on flatten(), zero_grad before the forward",
                cell="fixed_training_loop", old=None, new='''
def fixed_training_loop(model, X, y, lr, num_steps):
    history = []
    for _ in range(num_steps):
        zero_grad(model.parameters())
        loss = torch.nn.functional.mse_loss(model(X).flatten(), y)
        loss.backward()
        sgd_step(model.parameters(), lr)
        history.append(loss.item())
    return history
'''),
]
