"""Every launch and download link of the built book opens a notebook of the
repository; with no hub in ``_config.yml`` there is no hub button.

Reads ``_build/html`` (``make book`` first; ``make test`` builds it before
pytest). The chapter notebooks are ``book/NN_name.ipynb``, written by
``ziptie release`` and committed, because Colab and Binder read them from
the repository.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import yaml

from ziptie import chapters

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO = urlparse(CONFIG["repository"]["url"]).path.strip("/")   # org/name
BRANCH = CONFIG["repository"]["branch"]
PAGES = [p.relative_to(ROOT).with_suffix("") for p in chapters.sources(ROOT)]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _links(page: Path) -> list[str]:
    html = HTML / page.with_suffix(".html")
    assert html.is_file(), f"no {html}: build the book first (make book)"
    parser = _Links()
    parser.feed(html.read_text())
    return parser.hrefs


def _in_repo(path: str) -> Path:
    """``path`` is a notebook that git tracks in this repository."""
    done = subprocess.run(["git", "ls-files", "--error-unmatch", path],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"{path} is not a file of the repository"
    assert path.endswith(".ipynb"), f"{path} is not a notebook"
    return ROOT / path


def _colab(href: str) -> Path:
    url = urlparse(href)
    match = re.fullmatch(r"/github/([^/]+/[^/]+)/blob/([^/]+)/(.+)", url.path)
    assert match, href
    assert match[1] == REPO and match[2] == BRANCH, href
    return _in_repo(unquote(match[3]))


def _binder(href: str) -> Path:
    url = urlparse(href)
    assert url.path == f"/v2/gh/{REPO}/{BRANCH}", href
    [urlpath] = parse_qs(url.query)["urlpath"]
    assert urlpath.startswith("lab/tree/"), href
    return _in_repo(urlpath.removeprefix("lab/tree/"))


def test_there_are_chapter_notebooks():
    assert len(PAGES) >= 8


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_every_launch_link_opens_the_chapter_notebook(page):
    hrefs = _links(page)
    notebook = ROOT / page.with_suffix(".ipynb")
    colab = [h for h in hrefs if "colab.research.google.com" in h]
    binder = [h for h in hrefs if "mybinder.org" in h]
    assert colab and binder, f"{page}: no Colab or Binder button"
    assert {_colab(h) for h in colab} == {notebook}
    assert {_binder(h) for h in binder} == {notebook}
    assert not [h for h in hrefs if "git-pull" in h or "hub/user" in h], \
        "a JupyterHub button although _config.yml names no hub"


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_the_download_is_the_chapter_notebook(page):
    html = HTML / page.with_suffix(".html")
    downloads = [h for h in _links(page) if h.endswith(".ipynb")
                 and not h.startswith("http")]
    assert downloads, f"{page}: no .ipynb download"
    for href in downloads:
        served = (html.parent / href).resolve()
        assert served.is_file(), href
        assert served.read_bytes() == (ROOT / page.with_suffix(
            ".ipynb")).read_bytes()


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_the_first_cell_installs_ziptie_from_the_repository(page):
    nb = json.loads((ROOT / page.with_suffix(".ipynb")).read_text())
    first = "".join(nb["cells"][0]["source"])
    assert "except ImportError:" in first
    assert (f'%pip install --quiet "ziptie @ git+'
            f'{CONFIG["repository"]["url"]}@{BRANCH}"') in first


def test_every_exercise_installs_ziptie_first():
    first = chapters.install_cell(ROOT)
    for path in sorted((ROOT / "exercises").glob("*/*.ipynb")):
        nb = json.loads(path.read_text())
        assert "".join(nb["cells"][0]["source"]) == first, path


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if version:
            pins[name] = version.strip()
    return pins


def _imports(code: str) -> set[str]:
    """Top-level modules a cell imports (IPython's % lines left out)."""
    lines = [line for line in code.splitlines()
             if not line.lstrip().startswith(("%", "!"))]
    found = set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_binder_builds_the_course_pins_with_the_cpu_torch():
    binder = ROOT / "binder" / "requirements.txt"
    text = binder.read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text
    assert "-e ." in text.splitlines()
    course = _pins(ROOT / "requirements.txt")
    for name, version in _pins(binder).items():
        assert course.get(name) == version, f"{name}: binder pins {version}"
    imported = set()
    for page in PAGES:
        nb = json.loads((ROOT / page.with_suffix(".ipynb")).read_text())
        for cell in nb["cells"][1:]:
            if cell["cell_type"] == "code":
                imported |= _imports("".join(cell["source"]))
    names = {"sklearn": "scikit-learn", "yaml": "pyyaml"}
    # ziptie comes with "-e ."; the first cell stands in for myst_nb
    third_party = imported - {"ziptie", "myst_nb"} - sys.stdlib_module_names
    missing = {names.get(m, m) for m in third_party} - set(_pins(binder))
    assert not missing, f"binder/requirements.txt lacks {missing}"


def test_the_first_cell_stands_in_for_glue_where_myst_nb_is_missing():
    """Colab has no myst-nb: after the first cell, glue shows the value."""
    first = json.loads((ROOT / "book" / "05_sgd.ipynb").read_text())[
        "cells"][0]["source"]
    code = (
        "import sys\n"
        "sys.modules['myst_nb'] = None  # as if it were not installed\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        f"cell = {''.join(first)!r}\n"
        "assert shell.run_cell(cell).success\n"
        "assert shell.run_cell('from myst_nb import glue\\n"
        "glue(\"lr\", 6 * 7)').success\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "42" in done.stdout
