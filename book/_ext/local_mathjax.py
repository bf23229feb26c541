"""Serve MathJax from the built site instead of a CDN.

The MathJax 3 files come from the ``django-static-mathjax`` wheel (pure
static files, no Django needed). They are copied to ``_static/mathjax`` and
``mathjax_path`` in ``_config.yml`` points there, so every page typesets its
math without a network.
"""

from __future__ import annotations

import shutil
from importlib.util import find_spec
from pathlib import Path


def _es5_folder() -> Path:
    spec = find_spec("mathjax")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "MathJax is not installed: pip install django-static-mathjax")
    folder = Path(spec.origin).parent / "static" / "mathjax" / "es5"
    if not (folder / "tex-chtml.js").is_file():
        raise RuntimeError(f"no tex-chtml.js in {folder}")
    return folder


def _copy(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = _es5_folder()
    target = Path(app.outdir) / "_static" / "mathjax"
    if target.exists():
        return
    target.mkdir(parents=True)
    shutil.copy2(source / "tex-chtml.js", target / "tex-chtml.js")
    shutil.copytree(source / "output" / "chtml" / "fonts" / "woff-v2",
                    target / "output" / "chtml" / "fonts" / "woff-v2")


def setup(app):
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
