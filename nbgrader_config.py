"""nbgrader configuration: instructors' notebooks in solutions/, students'
notebooks generated into exercises/ (``ziptie release``)."""

from ziptie.grader.sandbox import Limits

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "ziptie"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# Student code must not slow grading down: one cell gets at most this long,
# the same limit as in 'ziptie check' and 'ziptie grade'.
c.ExecutePreprocessor.timeout = int(Limits().cell_timeout)
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
