"""The catalogue of wrong answers of exercise 06_adam: each entry one mistake
students make, which must lose the points of the cells in ``loses``
with ``ziptie grade`` and with nbgrader alike (see ``catalogue``)."""

from catalogue import WrongAnswer

# A class that hands the work to torch.optim: exact, and not allowed.
_WRAPPER = """\
        if not hasattr(self, "_torch"):
            kind = (torch.optim.AdamW if self.decoupled_weight_decay
                    else torch.optim.Adam)
            self._torch = kind(self.params, lr=self.lr, betas=self.betas,
                               eps=self.eps, weight_decay=self.weight_decay)
        self._torch.param_groups[0]["lr"] = self.lr
        self._torch.step()
        return
        beta1, beta2 = self.betas"""

_DECAY_IN_LOOP = """\
                if p.grad is None:
                    continue
                g = p.grad
                if self.weight_decay != 0:
                    if self.decoupled_weight_decay:
                        p.mul_(1 - self.lr * self.weight_decay)
                    else:
                        g = g + self.weight_decay * p
"""

WRONG_ANSWERS = [
    WrongAnswer("beta = 1 accepted", cell="Adam",
                old="0.0 <= beta < 1.0", new="0.0 <= beta <= 1.0",
                loses=("test_adam_init",)),
    WrongAnswer("no bias correction of m", cell="Adam",
                old="m_hat = m / (1 - beta1 ** t)", new="m_hat = m",
                loses=("test_adam_step",)),
    WrongAnswer("no bias correction at all", cell="Adam",
                old="m_hat = m / (1 - beta1 ** t)\n"
                    "                v_hat = v / (1 - beta2 ** t)",
                new="m_hat = m\n                v_hat = v",
                loses=("test_adam_step",)),
    WrongAnswer("step counter off by one (t + 1)", cell="Adam",
                old='t = state["step"]', new='t = state["step"] + 1',
                loses=("test_adam_step",)),
    WrongAnswer("step counter from 0 (t - 1)", cell="Adam",
                old='t = state["step"]', new='t = state["step"] - 1',
                loses=("test_adam_step",)),
    WrongAnswer("eps inside the square root", cell="Adam",
                old="torch.sqrt(v_hat) + self.eps",
                new="torch.sqrt(v_hat + self.eps)",
                loses=("test_adam_step", "test_adam_l2",
                       "test_adam_decoupled", "test_adamw")),
    WrongAnswer("square root missing", cell="Adam",
                old="torch.sqrt(v_hat) + self.eps", new="v_hat + self.eps",
                loses=("test_adam_step",)),
    WrongAnswer("beta1 and beta2 swapped", cell="Adam",
                old="beta1, beta2 = self.betas", new="beta2, beta1 = self.betas",
                loses=("test_adam_step",)),
    WrongAnswer("(1 - beta1) factor missing in m", cell="Adam",
                old="m.mul_(beta1).add_((1 - beta1) * g)",
                new="m.mul_(beta1).add_(g)",
                loses=("test_adam_step",)),
    WrongAnswer("L2 and decoupled weight decay swapped", cell="Adam",
                old="if self.decoupled_weight_decay:",
                new="if not self.decoupled_weight_decay:",
                loses=("test_adam_l2", "test_adam_decoupled", "test_adamw")),
    WrongAnswer("decoupled decay without the learning rate", cell="Adam",
                old="p.mul_(1 - self.lr * self.weight_decay)",
                new="p.mul_(1 - self.weight_decay)",
                loses=("test_adam_decoupled", "test_adamw")),
    WrongAnswer("decoupled_weight_decay ignored", cell="Adam",
                old="p.mul_(1 - self.lr * self.weight_decay)", new="pass",
                loses=("test_adam_decoupled", "test_adamw")),
    WrongAnswer("None gradients not skipped", cell="Adam",
                old="if p.grad is None:", new="if False:",
                loses=("test_adam_state",)),
    WrongAnswer("decoupled decay also of the parameters without a gradient",
                cell="Adam", old=_DECAY_IN_LOOP, new="""\
                if self.weight_decay != 0 and self.decoupled_weight_decay:
                    p.mul_(1 - self.lr * self.weight_decay)
                if p.grad is None:
                    continue
                g = p.grad
                if self.weight_decay != 0 and not self.decoupled_weight_decay:
                    g = g + self.weight_decay * p
""", loses=("test_adam_decoupled",)),
    WrongAnswer("m, v and the step count forgotten when a gradient is "
                "missing", cell="Adam",
                old="                if p.grad is None:\n"
                    "                    continue",
                new="                if p.grad is None:\n"
                    "                    self.state[i] = None\n"
                    "                    continue",
                loses=("test_adam_state",)),
    WrongAnswer("m and v made as torch.zeros(p.shape): float32, on the CPU",
                cell="Adam", old='"m": torch.zeros_like(p),\n'
                '                                             '
                '"v": torch.zeros_like(p)}',
                new='"m": torch.zeros(p.shape),\n'
                '                                             '
                '"v": torch.zeros(p.shape)}',
                loses=("test_adam_step",)),
    WrongAnswer("wraps torch.optim.Adam", cell="Adam",
                old="        beta1, beta2 = self.betas", new=_WRAPPER,
                loses=("test_adam_step", "test_adam_l2",
                       "test_adam_decoupled", "test_adam_state",
                       "test_adamw", "test_digits_adam")),
    WrongAnswer("AdamW without decoupled decay", cell="AdamW",
                old="decoupled_weight_decay=True",
                new="decoupled_weight_decay=False", loses=("test_adamw",)),
    WrongAnswer("AdamW drops its weight_decay", cell="AdamW",
                old="weight_decay=weight_decay,", new="weight_decay=0.0,",
                loses=("test_adamw",)),
    WrongAnswer("a learning rate far too small (1e-4)",
                cell="train_digits", old="lr=1e-2", new="lr=1e-4",
                loses=("test_digits_adam",)),
    WrongAnswer("trained with torch.optim.Adam", cell="train_digits",
                old="optimizer = Adam(", new="optimizer = torch.optim.Adam(",
                loses=("test_digits_adam",)),
    WrongAnswer("weight_decay = 0 refused (the default)", cell="Adam",
                old="if weight_decay < 0:", new="if weight_decay <= 0:",
                loses=("test_adam_init", "test_adam_step")),
    WrongAnswer("one step count for all parameters (the largest)",
                cell="Adam", old='t = state["step"]',
                new='t = max(s["step"] for s in self.state if s)',
                loses=("test_adam_state",)),
    WrongAnswer("L2 penalty added to .grad in place", cell="Adam",
                old="g = g + self.weight_decay * p",
                new="g += self.weight_decay * p",
                loses=("test_adam_l2",)),
    WrongAnswer("v averages g, not g squared", cell="Adam",
                old="(1 - beta2) * g * g", new="(1 - beta2) * g",
                loses=("test_adam_step",)),
    WrongAnswer("zero_grad zeroes in place instead of setting None",
                cell="Adam", old="p.grad = None", new="p.grad.zero_()",
                loses=("test_adam_step",)),
    WrongAnswer("lr = 0 refused", cell="Adam",
                old="if lr < 0:", new="if lr <= 0:",
                loses=("test_adam_init",)),
]
