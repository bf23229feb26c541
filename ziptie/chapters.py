"""The book's chapters as notebooks that open anywhere.

Each chapter ``book/NN_name.md`` (MyST, text in git) becomes
``book/NN_name.ipynb``: the notebook that the chapter page offers for
download and opens in Colab, Binder or a JupyterHub. Colab and Binder read
it from the repository, so it is committed, written by ``ziptie release``
and checked by ``ziptie release --check``, like ``exercises/``.

Its first cell installs ``ziptie`` where it is missing (Colab, a bare hub)
from the repository named once in ``_config.yml`` (``repository.url`` at
``repository.branch``). Where a chapter uses ``myst_nb.glue`` (which names
a value for the book's text) and myst-nb is missing, the cell defines a
``glue`` that shows the value instead.
"""

from __future__ import annotations

from pathlib import Path

BOOK = "book"

INSTALL = '''\
# Installs the course's helper package where it is missing (Colab, a hub).
try:
    import ziptie
except ImportError:
    %pip install --quiet "ziptie @ git+{url}@{branch}"'''

GLUE = '''
try:
    import myst_nb
except ImportError:  # outside the book, glue(name, value) shows the value
    import sys
    import types

    from IPython.display import display as _show

    sys.modules["myst_nb"] = myst_nb = types.ModuleType("myst_nb")
    myst_nb.glue = lambda name, value, display=True: (
        _show(value) if display else None)'''


def install_cell(course: Path) -> str:
    """The first cell of every chapter notebook, from ``_config.yml``."""
    import yaml

    config = yaml.safe_load((course / "_config.yml").read_text()) or {}
    repository = config.get("repository") or {}
    if not repository.get("url"):
        raise SystemExit("ziptie: _config.yml names no repository.url, so a "
                         "chapter notebook cannot say where ziptie is.")
    return INSTALL.format(url=repository["url"].rstrip("/"),
                          branch=repository.get("branch", "main"))


def sources(course: Path) -> list[Path]:
    """The chapters that are notebooks: MyST files with a kernelspec."""
    folder = course / BOOK
    return sorted(p for p in folder.glob("*.md")
                  if p.read_text().startswith("---")
                  and "kernelspec:" in p.read_text().split("\n---", 1)[0])


def notebook(source: Path, first: str) -> str:
    """The ``.ipynb`` text of one chapter, with ``first`` as its first cell.

    Cell ids are numbered, so the same chapter always gives the same bytes.
    """
    import jupytext
    import nbformat

    nb = jupytext.read(source)
    nb.metadata.pop("jupytext", None)
    uses_glue = any("myst_nb" in cell.source for cell in nb.cells)
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        first + (GLUE if uses_glue else "")))
    for number, cell in enumerate(nb.cells):
        cell.id = f"cell-{number}"
    return nbformat.writes(nb) + "\n"


def generate(course: Path, out: Path) -> list[Path]:
    """Write every chapter notebook into ``out``; the names written."""
    found = sources(course) if (course / BOOK).is_dir() else []
    first = install_cell(course) if found else ""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in found:
        path = out / source.with_suffix(".ipynb").name
        path.write_text(notebook(source, first))
        written.append(Path(path.name))
    return written
