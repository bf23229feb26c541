"""nbgrader configuration: instructors' notebooks in solutions/, students'
notebooks generated into exercises/ (``ziptie release``)."""

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "ziptie"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# Student code must not slow grading down: one cell gets at most this long.
c.ExecutePreprocessor.timeout = 120
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
