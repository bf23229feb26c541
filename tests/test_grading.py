"""``ziptie grade`` on the real assignments, against hostile notebooks:
each may keep only the points it would have earned honestly. (The full
solution, the blank release and every wrong answer of each catalogue are
graded by both graders in test_graders_agree.py.)

nbgrader runs its tests in the student's kernel, where such a notebook can
break them; ``ziptie grade`` reads the cells before they run, trips what
they try while they run, and compares in its own process.
"""

import nbformat
import pytest

import autograde

#: Hostile notebooks: (name, the released notebook or the solution, cells
#: replaced by grade_id or added after one with "+grade_id", the points
#: they may keep: "none", or "all but" the tasks named).
UNIVERSAL = (
    "import json, os\n"
    "for k in range(60):\n"
    "    line = json.dumps({'event': 'probe', 'index': k, 'values': [0.0]})\n"
    "    os.write(3, line.encode() + b'\\n')\n"
    "os.write(3, b'{\"event\": \"done\"}\\n')\n"
    "os._exit(0)\n")
HOSTILE = {
    "01_forward": [
        ("universal", "released", {"+copy_params": UNIVERSAL}, "none"),
        ("empty_mlp", "solution", {"mlp_class": (
            "import torch\n"
            "class MLP(torch.nn.Module):\n"
            "    def __init__(self, sizes):\n"
            "        super().__init__()\n"
            "        self.sizes = sizes\n"
            "    def parameters(self):\n"
            "        for a, b in zip(self.sizes, self.sizes[1:]):\n"
            "            yield torch.zeros(b, a, requires_grad=True)\n"
            "            yield torch.zeros(b, requires_grad=True)\n"
            "    def forward(self, X):\n"
            "        return torch.zeros(len(X), self.sizes[-1])\n")},
         ("test_mlp_class",)),
    ],
    "02_loss": [
        ("universal", "released", {"+cross_entropy_torch": UNIVERSAL},
         "none"),
        ("patched_tests", "solution", {"cross_entropy": (
            "import numpy as np\nimport torch\n"
            "np.allclose = lambda *a, **k: True\n"
            "torch.allclose = lambda *a, **k: True\n\n"
            "def cross_entropy(logits, y):\n    return 0.0\n")}, "none"),
        ("bound_early", "solution", {"cross_entropy_torch": (
            "from torch.nn.functional import cross_entropy as _ce\n"
            "def cross_entropy_torch(logits, y):\n"
            "    return _ce(logits, y)\n")}, ("test_cross_entropy_torch",)),
        ("module_elsewhere", "solution", {
            "+accuracy": "import torch\nloss_module = torch.nn.CrossEntropyLoss()",
            "cross_entropy_torch": (
                "def cross_entropy_torch(logits, y):\n"
                "    return loss_module(logits, y)\n")},
         ("test_cross_entropy_torch",)),
        ("private_binding", "solution", {"cross_entropy_torch": (
            "import torch\n"
            "def cross_entropy_torch(logits, y):\n"
            "    return torch._C._nn.cross_entropy_loss(logits, y)\n")},
         "none"),
        # an honest mistake: an int too large for a float, which the
        # diagnosis (on for this assignment) compares with the mistakes it
        # knows; it loses its task, not the notebook's other points
        ("huge_int", "solution", {"mse": (
            "def mse(pred, y):\n    return 10 ** 400\n")}, ("test_mse",)),
    ],
    "03_backward": [
        ("autograd", "solution", {"+mlp_backward": (
            "import torch\n"
            "def helper(X, y, params):\n"
            "    ts = [(torch.tensor(W, requires_grad=True),\n"
            "           torch.tensor(b, requires_grad=True))\n"
            "          for W, b in params]\n"
            "    H = torch.tensor(X)\n"
            "    for l, (W, b) in enumerate(ts):\n"
            "        H = H @ W + b\n"
            "        if l < len(ts) - 1:\n"
            "            H = torch.relu(H)\n"
            "    loss = torch.nn.functional.cross_entropy(H, torch.tensor(y))\n"
            "    loss.backward()\n"
            "    return [(W.grad.numpy(), b.grad.numpy()) for W, b in ts]\n"
            "mlp_backward = helper\n")}, ("test_mlp_backward",)),
    ],
    "05_sgd": [
        ("functional_sgd", "solution", {"+SGD": (
            "import torch\n"
            "from torch.optim.sgd import sgd as functional_sgd\n"
            "class SGD(SGD):\n"
            "    def step(self):\n"
            "        with torch.no_grad():\n"
            "            for p in self.params:\n"
            "                if p.grad is not None:\n"
            "                    functional_sgd([p], [p.grad], [None],\n"
            "                        weight_decay=0.0, momentum=0.0,\n"
            "                        lr=self.lr, dampening=0.0,\n"
            "                        nesterov=False, maximize=False)\n")},
         ("test_sgd_init", "test_sgd_step", "test_sgd_momentum",
          "test_digits_sgd")),
        # trains on every digit scikit-learn ships, the grader's included,
        # by a path the scan cannot read
        ("all_the_digits", "solution", {"+digits_data": (
            "import os, sklearn\n"
            "raw = np.loadtxt(os.path.join(os.path.dirname(sklearn.__file__),"
            " 'datasets', 'data', 'digits' + '.csv' + '.gz'), delimiter=',')\n"
            "X_train = torch.tensor(raw[:, :-1] / 16, dtype=torch.float32)\n"
            "y_train = torch.tensor(raw[:, -1], dtype=torch.int64)\n")},
         "none"),
        # the same digits through ziptie.data's private reader, named by a
        # string; or its split replaced by a string, so that load gives
        # them all
        ("held_back_by_getattr", "solution", {"+digits_data": (
            "import ziptie.data\n"
            "X, y = getattr(ziptie.data, '_digits')(True)\n"
            "X_train = torch.cat([X_train, torch.tensor(X).float()])\n"
            "y_train = torch.cat([y_train, torch.tensor(y)])\n")}, "none"),
        ("split_by_setattr", "solution", {"+digits_data": (
            "import ziptie.data\n"
            "setattr(ziptie.data, '_hold_out',\n"
            "        lambda index, count, **k: (index, index[:count]))\n"
            "X_train, y_train = ziptie.data.load('digits',"
            " as_tensor=True).train\n")}, "none"),
    ],
    "07_signal": [
        ("universal", "released", {"+measure_step": UNIVERSAL}, "none"),
        ("patched_abs", "solution", {"+measure_step": (
            "import torch\n"
            "torch.Tensor.abs = lambda self: self.clone()\n")}, "none"),
        ("ratio_by_name", "solution", {"loss_scale_ratio": (
            "import torch\n"
            "def loss_scale_ratio(model, loss_fn, X, y, optimizer_class,\n"
            "                     settings, c):\n"
            "    return float(c) if optimizer_class is torch.optim.SGD \\\n"
            "        else 1.0\n")}, ("test_loss_scale",)),
    ],
    "08_parallel": [
        ("universal", "released", {"+shard": UNIVERSAL}, "none"),
        # the sampler hands out the indices that shard must compute
        ("sampler_itself", "solution", {"shard": (
            "from torch.utils.data import DistributedSampler as Sampler\n"
            "def shard(n, world_size, rank, epoch=0, seed=0, shuffle=True,\n"
            "          drop_last=False):\n"
            "    sampler = Sampler(range(n), num_replicas=world_size,\n"
            "                      rank=rank, shuffle=shuffle, seed=seed,\n"
            "                      drop_last=drop_last)\n"
            "    sampler.set_epoch(epoch)\n"
            "    return [int(i) for i in sampler]\n")}, ("test_shard",)),
    ],
    "09_regularisation": [
        ("universal", "released", {"+penalty": UNIVERSAL}, "none"),
        # scikit-learn hands out the indices that kfold must compute
        ("kfold_itself", "solution", {"kfold": (
            "def kfold(n, k, shuffle=False, seed=0):\n"
            "    splitter = KFold(k, shuffle=shuffle,\n"
            "                     random_state=seed if shuffle else None)\n"
            "    return [(a.tolist(), b.tolist())\n"
            "            for a, b in splitter.split(np.arange(n))]\n")},
         ("test_kfold",)),
        # torch's own dropout, from the state that drew the mask
        ("torch_dropout", "solution", {"dropout": (
            "import torch.nn.functional as F\n"
            "def dropout(X, p, mask, training=True):\n"
            "    if not training:\n"
            "        return F.dropout(X, p, training=False)\n"
            "    return torch.where(mask, F.dropout(torch.ones_like(X), p)\n"
            "                       .clamp(min=1 / (1 - p)) * X, 0 * X)\n")},
         ("test_dropout",)),
    ],
    "10_normalisation": [
        ("universal", "released", {"+batch_norm": UNIVERSAL}, "none"),
        # PyTorch's own layer behind the names the task asks for
        ("module_inside", "solution", {"BatchNorm": (
            "import torch\n"
            "class BatchNorm:\n"
            "    def __init__(self, num_features, eps=1e-5, momentum=0.1):\n"
            "        self.module = torch.nn.BatchNorm1d(\n"
            "            num_features, eps=eps, momentum=momentum,\n"
            "            dtype=torch.float64)\n"
            "        self.weight = self.module.weight\n"
            "        self.bias = self.module.bias\n"
            "    running_mean = property(lambda s: s.module.running_mean)\n"
            "    running_var = property(lambda s: s.module.running_var)\n"
            "    training = property(lambda s: s.module.training)\n"
            "    def train(self, mode=True):\n"
            "        self.module.train(mode)\n"
            "        return self\n"
            "    def eval(self):\n"
            "        return self.train(False)\n"
            "    def __call__(self, x):\n"
            "        return self.module(x)\n")}, ("test_batchnorm_layer",)),
    ],
    "11_optimizers": [
        ("universal", "released", {"+Adagrad": UNIVERSAL}, "none"),
        # the schedule read off PyTorch's own schedulers
        ("schedulers_itself", "solution", {"lr_at": (
            "import torch\n"
            "from torch.optim.lr_scheduler import (CosineAnnealingLR,\n"
            "                                      LinearLR, SequentialLR)\n"
            "def lr_at(step, base_lr, total_steps, warmup_steps,\n"
            "          start_factor=0.1, eta_min=0.0):\n"
            "    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)],\n"
            "                          lr=base_lr)\n"
            "    cos = CosineAnnealingLR(opt, total_steps - warmup_steps,\n"
            "                            eta_min)\n"
            "    sched = cos if not warmup_steps else SequentialLR(\n"
            "        opt, [LinearLR(opt, start_factor, 1.0, warmup_steps),\n"
            "              cos], [warmup_steps])\n"
            "    for _ in range(step):\n"
            "        opt.step()\n"
            "        sched.step()\n"
            "    return opt.param_groups[0]['lr']\n")}, ("test_lr_at",)),
    ],    "13_efficiency": [
        ("universal", "released", {"+accumulated_grads": UNIVERSAL}, "none"),
        # PyTorch's own pruning, bound before the grader looks
        ("prune_itself", "solution", {"magnitude_prune_": (
            "import torch\n"
            "from torch.nn.utils.prune import L1Unstructured as _L1\n"
            "def magnitude_prune_(weight, amount):\n"
            "    mask = _L1(amount).compute_mask(\n"
            "        weight.detach(), torch.ones_like(weight))\n"
            "    with torch.no_grad():\n"
            "        weight.mul_(mask)\n"
            "    return mask\n")}, ("test_magnitude_prune",)),
        # resume hands back the run it was given: no state travels
        ("resume_nothing", "solution", {"checkpoint": (
            "def checkpoint(model, optimizer, scheduler, generator):\n"
            "    return {}\n"
            "def resume(state, model, optimizer, scheduler, generator):\n"
            "    pass\n")}, ("test_checkpoint",)),
    ],
    "12_watching": [
        ("universal", "released", {"+clip_norm": UNIVERSAL}, "none"),
        # PyTorch's own clipping, under another name
        ("torch_clipping", "solution", {"clip_norm": (
            "from torch.nn import utils as _u\n"
            "def clip_grad_norm_(parameters, max_norm, norm_type=2.0):\n"
            "    return _u.clip_grad_norm_(parameters, max_norm,\n"
            "                              norm_type)\n")},
         ("test_clip_grad_norm",)),
        # scikit-learn counts the confusion matrix
        ("sklearn_counts", "solution", {"confusion": (
            "import torch\n"
            "from sklearn import metrics as m\n"
            "def confusion_matrix(pred, target, num_classes):\n"
            "    return torch.from_numpy(m.confusion_matrix(\n"
            "        target.numpy(), pred.numpy(),\n"
            "        labels=list(range(num_classes))))\n")},
         ("test_confusion_matrix",)),
    ],
}


def _edited(assignment: str, base: str, cells: dict[str, str]
            ) -> nbformat.NotebookNode:
    """The released notebook or the solution, with ``cells`` replaced by
    grade_id, or added after one (``"+grade_id"``)."""
    nb = autograde.student(assignment) if base == "released" else \
        autograde.filled(assignment)
    for key, source in cells.items():
        ids = [c.metadata.get("nbgrader", {}).get("grade_id")
               for c in nb.cells]
        at = ids.index(key.lstrip("+"))
        if key.startswith("+"):
            nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source))
        else:
            nb.cells[at].source = source
    return nb


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(HOSTILE))
def test_hostile_notebooks_earn_no_point_they_should_not(assignment,
                                                           tmp_path):
    points = autograde.max_points(assignment)
    notebooks = {"solution": autograde.filled(assignment)}
    for name, base, cells, _ in HOSTILE[assignment]:
        notebooks[name] = _edited(assignment, base, cells)
    # Naming mistakes changes no point (test_diagnosis.py): the diagnosis,
    # which runs every catalogued mistake first, runs here for one
    # assignment only.
    options = () if assignment == "02_loss" else ("--no-diagnosis",)
    rows = autograde.ziptie_grade(assignment, notebooks, tmp_path,
                                  options=options)
    assert rows["solution"]["status"] == "ok", rows["solution"]["notes"]
    assert autograde.points_of(rows["solution"], assignment).cells == points
    for name, _, _, keeps in HOSTILE[assignment]:
        got = autograde.points_of(rows[name], assignment).cells
        allowed = {} if keeps == "none" else {
            gid: p for gid, p in points.items() if gid not in keeps}
        gained = {gid: s for gid, s in got.items()
                  if s > allowed.get(gid, 0.0)}
        assert not gained, f"{name} gained {gained}: {rows[name]['notes']}"
        assert rows[name]["status"] in ("flagged", "ok"), rows[name]
        if keeps != "none":
            assert got == {**points, **dict.fromkeys(keeps, 0.0)}, \
                f"{name}: {rows[name]['notes']}; the feedback says " \
                f"{autograde.feedback(tmp_path / 'graded', name, assignment)}"
