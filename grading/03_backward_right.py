"""Correct answers of exercise 03_backward written as students write them,
unlike the solution: each must keep every point (see ``catalogue`` and
``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # linear_backward
    RightAnswer("example by example: outer products", cell="linear_backward",
                old=None, new='''
def linear_backward(dout, X, W, b):
    dX = np.zeros_like(X, dtype=float)
    dW = np.zeros_like(W, dtype=float)
    db = np.zeros_like(b, dtype=float)
    for i in range(X.shape[0]):
        dX[i] = W @ dout[i]
        dW += np.outer(X[i], dout[i])
        db += dout[i]
    return dX, dW, db
'''),
    RightAnswer("einsum", cell="linear_backward", old=None, new='''
def linear_backward(dout, X, W, b):
    grad_X = np.einsum("no,io->ni", dout, W)
    grad_W = np.einsum("ni,no->io", X, dout)
    grad_b = np.einsum("no->o", dout)
    return grad_X, grad_W, grad_b
'''),
    RightAnswer("torch tensors, no autograd", cell="linear_backward",
                old=None, new='''
def linear_backward(dout, X, W, b):
    d, x, w = (torch.from_numpy(np.asarray(a)) for a in (dout, X, W))
    dX = torch.matmul(d, w.t())
    dW = torch.matmul(x.t(), d)
    db = torch.sum(d, dim=0)
    return dX.numpy(), dW.numpy(), db.numpy()
'''),
    # relu_backward
    RightAnswer("np.where on z", cell="relu_backward",
                old="return dout * (z > 0)",
                new="return np.where(z > 0, dout, 0.0)"),
    RightAnswer("a copy with the blocked entries zeroed", cell="relu_backward",
                old=None, new='''
def relu_backward(dout, z):
    dz = dout.copy()
    dz[z <= 0] = 0.0
    return dz
'''),
    RightAnswer("entry by entry", cell="relu_backward", old=None, new='''
def relu_backward(dout, z):
    grad = np.zeros(np.shape(dout))
    for idx in np.ndindex(*np.shape(z)):
        if z[idx] > 0:
            grad[idx] = dout[idx]
    return grad
'''),
    RightAnswer("heaviside step", cell="relu_backward",
                old="return dout * (z > 0)",
                new="return dout * np.heaviside(z, 0.0)"),
    # softmax_cross_entropy_backward
    RightAnswer("one-hot rows of np.eye",
                cell="softmax_cross_entropy_backward", old=None, new='''
def softmax_cross_entropy_backward(logits, y):
    n, k = logits.shape
    return (softmax(logits) - np.eye(k)[y]) / n
'''),
    RightAnswer("a loop over the labels",
                cell="softmax_cross_entropy_backward", old=None, new='''
def softmax_cross_entropy_backward(logits, y):
    probs = softmax(logits)
    for row, label in enumerate(y):
        probs[row, label] -= 1.0
    probs /= len(y)
    return probs
'''),
    RightAnswer("its own stable softmax in float64",
                cell="softmax_cross_entropy_backward", old=None, new='''
def softmax_cross_entropy_backward(logits, y):
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    target = np.zeros_like(p)
    target[np.arange(len(y)), y] = 1.0
    return (p - target) / len(y)
'''),
    # mlp_backward
    RightAnswer("a cache of (input, z) pairs, an index loop back",
                cell="mlp_backward", old=None, new='''
def mlp_backward(X, y, params):
    cache = []
    h = X
    L = len(params)
    for i, (W, b) in enumerate(params):
        z = linear_forward(h, W, b)
        cache.append((h, z))
        h = z if i == L - 1 else relu(z)
    delta = softmax_cross_entropy_backward(h, y)
    grads = []
    for i in range(L - 1, -1, -1):
        h_in, z = cache[i]
        if i != L - 1:
            delta = relu_backward(delta, z)
        delta, dW, db = linear_backward(delta, h_in, *params[i])
        grads.insert(0, (dW, db))
    return grads
'''),
    RightAnswer("inline formulas, the mask from the activations",
                cell="mlp_backward", old=None, new='''
def mlp_backward(X, y, params):
    activations = [X]
    for k, (W, b) in enumerate(params):
        z = activations[-1] @ W + b
        activations.append(np.maximum(z, 0) if k < len(params) - 1 else z)
    logits = activations[-1]
    n = len(y)
    delta = softmax(logits)
    delta[np.arange(n), y] -= 1
    delta /= n
    grads = [None] * len(params)
    for k in reversed(range(len(params))):
        W = params[k][0]
        grads[k] = (activations[k].T @ delta, delta.sum(axis=0))
        if k > 0:
            delta = (delta @ W.T) * (activations[k] > 0)
    return grads
'''),
    RightAnswer("recursion through the layers", cell="mlp_backward",
                old=None, new='''
def mlp_backward(X, y, params):
    def backward_from(H, layers):
        (W, b), rest = layers[0], layers[1:]
        Z = linear_forward(H, W, b)
        if not rest:
            dZ = softmax_cross_entropy_backward(Z, y)
            dH, dW, db = linear_backward(dZ, H, W, b)
            return dH, [(dW, db)]
        d_above, grads = backward_from(relu(Z), rest)
        dZ = relu_backward(d_above, Z)
        dH, dW, db = linear_backward(dZ, H, W, b)
        return dH, [(dW, db)] + grads

    return backward_from(X, list(params))[1]
'''),
]
