"""nbgrader configuration: instructors' notebooks in solutions/, students'
notebooks generated into exercises/ (``ziptie release``)."""

import os
from pathlib import Path

from ziptie.grader.sandbox import Limits

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "ziptie"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# Student code must not slow grading down: one cell gets at most this long,
# the same limit as in 'ziptie check' and 'ziptie grade'.
c.ExecutePreprocessor.timeout = int(Limits().cell_timeout)
# Once the last cell has run, its outputs are in the notebook: end the
# kernel at once. A graceful shutdown lets Python tear torch down first,
# about 1.5 s of CPU a notebook (bench/nbgrader_shutdown.py).
c.ExecutePreprocessor.shutdown_kernel = "immediate"
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}

# The hidden tests call the checks of grading/ (grading/nbgrader_bridge.py):
# the kernels that nbgrader starts inherit this environment.
_grading = str(Path(__file__).resolve().parent / "grading")
_path = os.environ.get("PYTHONPATH", "").split(os.pathsep)
if _grading not in _path:
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [_grading] + [p for p in _path if p])
