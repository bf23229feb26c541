"""The catalogue of wrong answers of exercise 11_optimizers: each entry one
mistake students make, which must lose the points of the cells in ``loses``
with ``ziptie grade`` and with nbgrader alike (see ``catalogue``)."""

from catalogue import WrongAnswer

# A class that hands the work to torch.optim: exact, and not allowed.
_WRAPPER = """\
        if not hasattr(self, "_torch"):
            self._torch = torch.optim.RMSprop(
                self.params, lr=self.lr, alpha=self.alpha, eps=self.eps,
                weight_decay=self.weight_decay, momentum=self.momentum)
        self._torch.param_groups[0]["lr"] = self.lr
        self._torch.step()
        return
        with torch.no_grad():"""

# The schedule by PyTorch's own schedulers, replayed up to the step.
_SCHEDULERS = """\
    sched = torch.optim.lr_scheduler
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)],
                                lr=base_lr)
    cosine = sched.CosineAnnealingLR(
        optimizer, T_max=total_steps - warmup_steps, eta_min=eta_min)
    scheduler = cosine if not warmup_steps else sched.SequentialLR(
        optimizer, [sched.LinearLR(optimizer, start_factor=start_factor,
                                   total_iters=warmup_steps), cosine],
        milestones=[warmup_steps])
    for _ in range(step):
        optimizer.step()
        scheduler.step()
    return optimizer.param_groups[0]["lr"]
    if step < warmup_steps:"""

WRONG_ANSWERS = [
    # AdaGrad
    WrongAnswer("AdaGrad: eps inside the square root", cell="Adagrad",
                old="(G.sqrt() + self.eps)", new="(G + self.eps).sqrt()",
                loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: accumulator starts at 1, not "
                "initial_accumulator_value", cell="Adagrad",
                old="torch.full_like(\n                            p, "
                    "self.initial_accumulator_value)",
                new="torch.ones_like(p)", loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: accumulates |g|, not g squared", cell="Adagrad",
                old="G.add_(g * g)", new="G.add_(g.abs())",
                loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: weight decay added after the accumulator",
                cell="Adagrad",
                old="                g = p.grad\n"
                    "                if self.weight_decay != 0:\n"
                    "                    g = g + self.weight_decay * p\n",
                new="                g = p.grad\n",
                loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: G updated after the step (the old G divides)",
                cell="Adagrad",
                old="                G.add_(g * g)\n"
                    "                lr = self.lr / (1 + (state[\"step\"] - 1) "
                    "* self.lr_decay)\n"
                    "                p.sub_(lr * g / (G.sqrt() + self.eps))",
                new="                lr = self.lr / (1 + (state[\"step\"] - 1) "
                    "* self.lr_decay)\n"
                    "                p.sub_(lr * g / (G.sqrt() + self.eps))\n"
                    "                G.add_(g * g)",
                loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: lr_decay counts from t, not t - 1",
                cell="Adagrad", old='(state["step"] - 1) * self.lr_decay',
                new='state["step"] * self.lr_decay',
                loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: one step count shared by all parameters",
                cell="Adagrad",
                old='lr = self.lr / (1 + (state["step"] - 1)',
                new='lr = self.lr / (1 + (max(s["step"] for s in '
                    'self.state if s) - 1)',
                loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: L2 term added to .grad in place", cell="Adagrad",
                old="g = g + self.weight_decay * p",
                new="g += self.weight_decay * p", loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: zero_grad keeps the gradients", cell="Adagrad",
                old="            p.grad = None", new="            pass",
                loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: negative lr_decay accepted", cell="Adagrad",
                old='settings = {"lr": lr, "lr_decay": lr_decay,',
                new='settings = {"lr": lr,', loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: lr_decay as an exponential decay", cell="Adagrad",
                old='lr = self.lr / (1 + (state["step"] - 1) * self.lr_decay)',
                new='lr = self.lr * (1 - self.lr_decay) ** (state["step"] - 1)',
                loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: the accumulator rebound, never stored",
                cell="Adagrad", old="G.add_(g * g)", new="G = G + g * g",
                loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: a float32 accumulator for float64 parameters",
                cell="Adagrad",
                old="torch.full_like(\n                            p, "
                    "self.initial_accumulator_value)",
                new="torch.full(p.shape, self.initial_accumulator_value)",
                loses=("test_adagrad",)),
    WrongAnswer("AdaGrad: lr = 0 refused", cell="Adagrad",
                old="        for name, value in settings.items():\n"
                    "            if value < 0:",
                new="        if lr <= 0:\n"
                    "            raise ValueError(f\"Invalid lr: {lr}\")\n"
                    "        for name, value in settings.items():\n"
                    "            if value < 0:",
                loses=("test_adagrad",)),
    # RMSprop
    WrongAnswer("RMSprop: alpha applied to the new term", cell="RMSprop",
                old="v.mul_(self.alpha).add_((1 - self.alpha) * g * g)",
                new="v.mul_(1 - self.alpha).add_(self.alpha * g * g)",
                loses=("test_rmsprop",)),
    WrongAnswer("RMSprop: eps inside the square root", cell="RMSprop",
                old="avg = v.sqrt() + self.eps",
                new="avg = (v + self.eps).sqrt()", loses=("test_rmsprop",)),
    WrongAnswer("RMSprop: bias-corrected as in Adam", cell="RMSprop",
                old="avg = v.sqrt() + self.eps",
                new='state["t"] = state.get("t", 0) + 1\n'
                    "                avg = (v / (1 - self.alpha ** "
                    'state["t"])).sqrt() + self.eps',
                loses=("test_rmsprop",)),
    WrongAnswer("RMSprop: lr inside the momentum buffer", cell="RMSprop",
                old="b.mul_(self.momentum).add_(g / avg)\n"
                    "                    p.sub_(self.lr * b)",
                new="b.mul_(self.momentum).add_(self.lr * g / avg)\n"
                    "                    p.sub_(b)",
                loses=("test_rmsprop",)),
    WrongAnswer("RMSprop: momentum buffer of g, divided afterwards",
                cell="RMSprop",
                old="b.mul_(self.momentum).add_(g / avg)\n"
                    "                    p.sub_(self.lr * b)",
                new="b.mul_(self.momentum).add_(g)\n"
                    "                    p.sub_(self.lr * b / avg)",
                loses=("test_rmsprop",)),
    WrongAnswer("RMSprop: decoupled weight decay instead of L2",
                cell="RMSprop", old="g = g + self.weight_decay * p",
                new="p.mul_(1 - self.lr * self.weight_decay)",
                loses=("test_rmsprop",)),
    WrongAnswer("RMSprop: one state shared by all parameters of a shape",
                cell="RMSprop", old="state = self.state[i]\n",
                new="state = next((s for s in self.state if s is not None "
                    "and s['square_avg'].shape == p.shape), None)\n",
                loses=("test_rmsprop",)),
    WrongAnswer("RMSprop: wraps torch.optim.RMSprop", cell="RMSprop",
                old="        with torch.no_grad():", new=_WRAPPER,
                loses=("test_rmsprop",)),
    WrongAnswer("RMSprop: centered (the squared mean gradient subtracted)",
                cell="RMSprop", old="avg = v.sqrt() + self.eps",
                new='mean = state.setdefault("grad_avg", torch.zeros_like(p))\n'
                    "                mean.mul_(self.alpha).add_((1 - self.alpha) "
                    "* g)\n"
                    "                avg = (v - mean * mean).sqrt() + self.eps",
                loses=("test_rmsprop",)),
    # Nesterov
    WrongAnswer("Nesterov: the look-ahead form without its change of "
                "variable (plain momentum)", cell="NesterovSGD",
                old="p.sub_(self.lr * (g + self.momentum * b))",
                new="p.sub_(self.lr * b)", loses=("test_nesterov",)),
    WrongAnswer("Nesterov: look-ahead with the old buffer",
                cell="NesterovSGD",
                old="                if self.buffers[i] is None:\n"
                    "                    self.buffers[i] = g.clone()\n"
                    "                else:\n"
                    "                    self.buffers[i].mul_(self.momentum)"
                    ".add_(g)\n"
                    "                b = self.buffers[i]\n"
                    "                p.sub_(self.lr * (g + self.momentum * b))",
                new="                if self.buffers[i] is None:\n"
                    "                    self.buffers[i] = torch.zeros_like(p)"
                    "\n"
                    "                b = self.buffers[i]\n"
                    "                p.sub_(self.lr * (g + self.momentum * b))"
                    "\n"
                    "                b.mul_(self.momentum).add_(g)",
                loses=("test_nesterov",)),
    WrongAnswer("Nesterov: CS231n's velocity, lr inside it",
                cell="NesterovSGD",
                old="                if self.buffers[i] is None:\n"
                    "                    self.buffers[i] = g.clone()\n"
                    "                else:\n"
                    "                    self.buffers[i].mul_(self.momentum)"
                    ".add_(g)\n"
                    "                b = self.buffers[i]\n"
                    "                p.sub_(self.lr * (g + self.momentum * b))",
                new="                if self.buffers[i] is None:\n"
                    "                    self.buffers[i] = torch.zeros_like(p)"
                    "\n"
                    "                v_prev = self.buffers[i].clone()\n"
                    "                v = self.buffers[i]\n"
                    "                v.mul_(self.momentum).sub_(self.lr * g)\n"
                    "                p.add_(-self.momentum * v_prev "
                    "+ (1 + self.momentum) * v)",
                loses=("test_nesterov",)),
    WrongAnswer("Nesterov: buffer averages with (1 - momentum)",
                cell="NesterovSGD",
                old="                    self.buffers[i] = g.clone()\n"
                    "                else:\n"
                    "                    self.buffers[i].mul_(self.momentum)"
                    ".add_(g)",
                new="                    self.buffers[i] = torch.zeros_like(p)"
                    "\n"
                    "                self.buffers[i].mul_(self.momentum).add_("
                    "(1 - self.momentum) * g)",
                loses=("test_nesterov",)),
    WrongAnswer("Nesterov: momentum = 0 accepted", cell="NesterovSGD",
                old="if momentum <= 0:", new="if momentum < 0:",
                loses=("test_nesterov",)),
    WrongAnswer("Nesterov: weight_decay ignored", cell="NesterovSGD",
                old="g = g + self.weight_decay * p", new="g = g",
                loses=("test_nesterov",)),
    WrongAnswer("Nesterov: the look-ahead term without weight decay",
                cell="NesterovSGD",
                old="p.sub_(self.lr * (g + self.momentum * b))",
                new="p.sub_(self.lr * (p.grad + self.momentum * b))",
                loses=("test_nesterov",)),
    # lr_at
    WrongAnswer("schedule off by one step (step + 1)", cell="lr_at",
                old="    if step < warmup_steps:",
                new="    step = step + 1\n    if step < warmup_steps:",
                loses=("test_lr_at",)),
    WrongAnswer("warm-up starting at the peak", cell="lr_at",
                old="(start_factor\n                          + "
                    "(1 - start_factor) * step / warmup_steps)",
                new="1.0", loses=("test_lr_at",)),
    WrongAnswer("warm-up from zero, not start_factor", cell="lr_at",
                old="(start_factor\n                          + "
                    "(1 - start_factor) * step / warmup_steps)",
                new="step / warmup_steps", loses=("test_lr_at",)),
    WrongAnswer("cosine to zero instead of eta_min", cell="lr_at",
                old="return eta_min + (base_lr - eta_min) * cosine",
                new="return base_lr * cosine", loses=("test_lr_at",)),
    WrongAnswer("cosine over total_steps, not after the warm-up",
                cell="lr_at",
                old="(step - warmup_steps) / (total_steps - warmup_steps)",
                new="step / total_steps", loses=("test_lr_at",)),
    WrongAnswer("cosine from step 0, squeezed after the warm-up",
                cell="lr_at",
                old="(step - warmup_steps) / (total_steps - warmup_steps)",
                new="step / (total_steps - warmup_steps)",
                loses=("test_lr_at",)),
    WrongAnswer("PyTorch's schedulers replayed", cell="lr_at",
                old="    if step < warmup_steps:", new=_SCHEDULERS,
                loses=("test_lr_at",)),
    WrongAnswer("warm-up reaching base_lr a step early", cell="lr_at",
                old="(1 - start_factor) * step / warmup_steps)",
                new="(1 - start_factor) * step / max(warmup_steps - 1, 1))",
                loses=("test_lr_at",)),
    # the range test
    WrongAnswer("range test: rates grow linearly", cell="lr_range_test",
                old="lr = lr_min * (lr_max / lr_min) ** (k / (num_steps - 1))",
                new="lr = lr_min + (lr_max - lr_min) * k / (num_steps - 1)",
                loses=("test_range_test",)),
    WrongAnswer("range test: lr_max never reached (k / num_steps)",
                cell="lr_range_test",
                old="(k / (num_steps - 1))", new="(k / num_steps)",
                loses=("test_range_test",)),
    WrongAnswer("range test: trains the model itself",
                cell="lr_range_test", old="model = copy.deepcopy(model)",
                new="model = model", loses=("test_range_test",)),
    WrongAnswer("range test: never stops", cell="lr_range_test",
                old="if not losses[-1] <= stop_factor * min(losses):",
                new="if False:", loses=("test_range_test",)),
    WrongAnswer("range test: stops at the first loss that rises",
                cell="lr_range_test",
                old="if not losses[-1] <= stop_factor * min(losses):",
                new="if len(losses) > 1 and losses[-1] > losses[-2]:",
                loses=("test_range_test",)),
    WrongAnswer("range test: the loss recorded after the step",
                cell="lr_range_test",
                old="        optimizer.step()\n",
                new="        optimizer.step()\n"
                    "        losses[-1] = loss_fn(model(X), y).item()\n",
                loses=("test_range_test",)),
    WrongAnswer("range test: the first batch only", cell="lr_range_test",
                old="batches[k % len(batches)]", new="batches[0]",
                loses=("test_range_test",)),
    WrongAnswer("range test: the rate set after the step",
                cell="lr_range_test",
                old='        optimizer.param_groups[0]["lr"] = lr\n'
                    "        optimizer.zero_grad()\n"
                    "        loss.backward()\n"
                    "        optimizer.step()",
                new="        optimizer.zero_grad()\n"
                    "        loss.backward()\n"
                    "        optimizer.step()\n"
                    '        optimizer.param_groups[0]["lr"] = lr',
                loses=("test_range_test",)),
    WrongAnswer("stops once a loss exceeds stop_factor times the previous "
                "loss, not the lowest", cell="lr_range_test",
                old="if not losses[-1] <= stop_factor * min(losses):",
                new="if len(losses) > 1 and not losses[-1] <= stop_factor "
                    "* losses[-2]:",
                loses=("test_range_test",)),
]
