"""Checks of the fixture assignment: the points of each graded cell.

Inputs are drawn from ``rng`` at grading time; the expected values are
computed here, in the grader's process.
"""

import numpy as np

from ziptie.grader.probe import Probe, close, equal, task


@task("test_double", points=1)
def double(rng):
    for shape in [(), (4,), (2, 3)]:
        x = rng.normal(size=shape)
        yield Probe.call("double", x), close(2 * x)


@task("test_mse", points=2)
def mean_squared_error(rng):
    for n in (1, 5, 17):
        pred, y = rng.normal(size=n), rng.normal(size=n)
        yield (Probe.call("mean_squared_error", pred, y),
               close(np.mean((pred - y) ** 2)))


@task("test_counter", points=1)
def counter(rng):
    start = int(rng.integers(-50, 50))
    # never 0 or 1: an add that ignores n, or adds one, must fail every draw
    step = int(rng.choice([-1, 1]) * rng.integers(2, 50))
    probe = Probe.make("Counter", start).then("$0.add", step).get("$0.count")
    yield probe, equal(start + step)
    yield Probe.make("Counter").then("$0.add"), equal(1)
