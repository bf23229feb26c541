"""Drop repeated ``<script>`` tags from every page.

Sphinx before 8.3 adds some inline scripts twice (sphinx-doc/sphinx#13402);
a repeated ``const`` declaration is then a JavaScript error in the reader's
console. Jupyter Book 1 needs Sphinx 7, so the duplicates are removed here.
"""

from __future__ import annotations


def _dedupe(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files", [])
    seen, kept = set(), []
    for script in scripts:
        key = (getattr(script, "filename", script) or "",
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", _dedupe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
