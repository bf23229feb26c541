"""Correct answers of exercise 01_forward written as students write them,
unlike the solution: each must keep every point (see ``catalogue`` and
``tests/test_rewrites.py``). ``old=None``: ``new`` is the whole cell."""

from catalogue import RightAnswer

RIGHT_ANSWERS = [
    # linear_forward
    RightAnswer("three nested loops", cell="linear_forward", old=None, new='''
def linear_forward(X, W, b):
    n, d_in = X.shape
    d_out = W.shape[1]
    Z = np.zeros((n, d_out))
    for i in range(n):
        for j in range(d_out):
            total = b[j]
            for k in range(d_in):
                total += X[i, k] * W[k, j]
            Z[i, j] = total
    return Z
'''),
    RightAnswer("einsum, bias as a row", cell="linear_forward",
                old="return X @ W + b",
                new='return np.einsum("ni,io->no", X, W) + b[np.newaxis, :]'),
    RightAnswer("float64 inside, the input's dtype out", cell="linear_forward",
                old=None, new='''
def linear_forward(X, W, b):
    Z = np.dot(X.astype(np.float64), W.astype(np.float64))
    Z = Z + b.astype(np.float64)
    return Z.astype(X.dtype)
'''),
    RightAnswer("torch inside, NumPy out", cell="linear_forward", old=None,
                new='''
def linear_forward(X, W, b):
    X_t, W_t, b_t = (torch.as_tensor(a) for a in (X, W, b))
    return torch.addmm(b_t, X_t, W_t).numpy()
'''),
    # relu
    RightAnswer("np.where", cell="relu", old="np.maximum(z, 0)",
                new="np.where(z > 0, z, 0.0)"),
    RightAnswer("a copy with its negatives set to zero", cell="relu",
                old=None, new='''
def relu(z):
    out = np.array(z, copy=True)
    out[out < 0] = 0
    return out
'''),
    RightAnswer("a loop over every entry", cell="relu", old=None, new='''
def relu(z):
    out = np.empty_like(z)
    for index in np.ndindex(*z.shape):
        out[index] = z[index] if z[index] > 0 else 0.0
    return out
'''),
    RightAnswer("clip, and the mean of z and |z|", cell="relu",
                old="return np.maximum(z, 0)",
                new="return np.clip((z + np.abs(z)) / 2, 0, None)"),
    # mlp_forward
    RightAnswer("hidden layers, then the last one", cell="mlp_forward",
                old=None, new='''
def mlp_forward(X, params):
    *hidden, (W_out, b_out) = params
    a = X
    for W, b in hidden:
        a = relu(linear_forward(a, W, b))
    return linear_forward(a, W_out, b_out)
'''),
    RightAnswer("recursion", cell="mlp_forward", old=None, new='''
def mlp_forward(X, params):
    (W, b), rest = params[0], params[1:]
    out = X @ W + b
    if not rest:
        return out
    return mlp_forward(np.maximum(out, 0), rest)
'''),
    RightAnswer("an index loop in float64", cell="mlp_forward", old=None,
                new='''
def mlp_forward(X, params):
    num_layers = len(params)
    activations = np.asarray(X, dtype=np.float64)
    for i in range(num_layers):
        weights, biases = params[i]
        activations = activations @ weights + biases
        if i != num_layers - 1:
            activations = activations * (activations > 0)
    return activations
'''),
    # count_parameters
    RightAnswer("a generator over pairs", cell="count_parameters", old=None,
                new='''
def count_parameters(layer_sizes):
    return sum(a * b + b for a, b in zip(layer_sizes, layer_sizes[1:]))
'''),
    RightAnswer("NumPy products", cell="count_parameters", old=None, new='''
def count_parameters(layer_sizes):
    sizes = np.array(layer_sizes, dtype=np.int64)
    return int(np.sum((sizes[:-1] + 1) * sizes[1:]))
'''),
    RightAnswer("counting nn.Linear's parameters", cell="count_parameters",
                old=None, new='''
def count_parameters(layer_sizes):
    count = 0
    i = 1
    while i < len(layer_sizes):
        layer = nn.Linear(layer_sizes[i - 1], layer_sizes[i])
        count += sum(p.numel() for p in layer.parameters())
        i += 1
    return count
'''),
    # mlp_class
    RightAnswer("nn.Sequential with nn.ReLU modules", cell="mlp_class",
                old=None, new='''
class MLP(nn.Module):
    def __init__(self, layer_sizes):
        super().__init__()
        modules = []
        for i in range(len(layer_sizes) - 1):
            modules.append(nn.Linear(layer_sizes[i], layer_sizes[i + 1]))
            if i < len(layer_sizes) - 2:
                modules.append(nn.ReLU())
        self.net = nn.Sequential(*modules)

    def forward(self, X):
        return self.net(X)
'''),
    RightAnswer("ModuleList by append, clamp in forward", cell="mlp_class",
                old=None, new='''
class MLP(nn.Module):
    def __init__(self, layer_sizes):
        super().__init__()
        self.linears = nn.ModuleList()
        for d_in, d_out in zip(layer_sizes, layer_sizes[1:]):
            self.linears.append(nn.Linear(d_in, d_out))

    def forward(self, x):
        for k, linear in enumerate(self.linears):
            x = linear(x)
            if k < len(self.linears) - 1:
                x = x.clamp(min=0)
        return x
'''),
    RightAnswer("layers registered with add_module, torch.where",
                cell="mlp_class", old=None, new='''
class MLP(nn.Module):
    def __init__(self, layer_sizes):
        super().__init__()
        self.depth = len(layer_sizes) - 1
        for k in range(self.depth):
            self.add_module(f"fc{k}",
                            nn.Linear(layer_sizes[k], layer_sizes[k + 1]))

    def forward(self, X):
        H = X
        for k, layer in enumerate(self.children()):
            H = layer(H)
            if k + 1 < self.depth:
                H = torch.where(H > 0, H, torch.zeros_like(H))
        return H
'''),
    RightAnswer("numbered attributes with setattr and getattr",
                cell="mlp_class", old=None, new='''
class MLP(nn.Module):
    def __init__(self, layer_sizes):
        super().__init__()
        self.num_layers = len(layer_sizes) - 1
        for i in range(self.num_layers):
            setattr(self, f"fc{i + 1}",
                    nn.Linear(layer_sizes[i], layer_sizes[i + 1]))

    def forward(self, X):
        for i in range(1, self.num_layers + 1):
            X = getattr(self, f"fc{i}")(X)
            if i < self.num_layers:
                X = torch.nn.functional.relu(X)
        return X
'''),
    # copy_params
    RightAnswer("through .data, no no_grad block", cell="copy_params",
                old=None, new='''
def copy_params(model, params):
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for linear, (W, b) in zip(linears, params):
        linear.weight.data.copy_(torch.tensor(W.T))
        linear.bias.data.copy_(torch.tensor(b))
'''),
    RightAnswer("entry by entry", cell="copy_params", old=None, new='''
def copy_params(model, params):
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer, (W, b) in zip(layers, params):
            d_in, d_out = W.shape
            for i in range(d_out):
                layer.bias[i] = float(b[i])
                for j in range(d_in):
                    layer.weight[i, j] = float(W[j, i])
'''),
    RightAnswer("a walk over modules(), .to the parameter's dtype",
                cell="copy_params", old=None, new='''
def copy_params(model, params):
    pairs = iter(params)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                W, b = next(pairs)
                w_new = torch.from_numpy(np.ascontiguousarray(W.T))
                module.weight.copy_(w_new.to(module.weight))
                module.bias.copy_(torch.from_numpy(b).to(module.bias))
'''),
    RightAnswer("a state dict, loaded", cell="copy_params", old=None,
                new='''
def copy_params(model, params):
    state = model.state_dict()
    names = [name for name, module in model.named_modules()
             if isinstance(module, nn.Linear)]
    for name, (W, b) in zip(names, params):
        prefix = f"{name}." if name else ""
        state[prefix + "weight"] = torch.tensor(W.T)
        state[prefix + "bias"] = torch.tensor(b)
    model.load_state_dict(state)
'''),
]
