"""The fixture course is configured as the real course is."""

load_subconfig("../../../nbgrader_config.py")  # noqa: F821 - from traitlets
