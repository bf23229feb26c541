"""Offer the repository's chapter notebook for download.

For a MyST chapter, sphinx-book-theme offers the notebook it executed; this
extension puts ``book/NN_name.ipynb`` (written by ``ziptie release``, the
file Colab and Binder open, whose first cell installs ziptie) in its place,
so the download and the launch buttons give the same notebook.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def _offer(app, pagename, templatename, context, doctree) -> None:
    if not context.get("ipynb_source"):
        return
    ours = Path(app.srcdir) / f"{pagename}.ipynb"
    if ours.is_file():
        shutil.copyfile(ours, Path(app.outdir) / "_sources" /
                        context["ipynb_source"])


def setup(app):
    # After the theme's launch buttons (priority 500), which copy theirs.
    app.connect("html-page-context", _offer, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
