"""What a grade depends on, and which earlier results a run reuses.

Each result is journalled (``JOURNAL``) as soon as it is known and folded
into ``results.jsonl`` at the end. A second run over the same ``--out``
reuses a result only when the notebook, the course files, the limits,
the grader (``setup_key``: every module of the ``ziptie`` package, hashed)
and the catalogue of mistakes its feedback names are the same, and says
why it regrades the rest: an interrupted run resumes and a repeated run
gives the same grades.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from ziptie.grader import sandbox
from ziptie.grader.assignment import Assignment
from ziptie.grader.report import Result
from ziptie.grader.submissions import Submission

#: Results as they come, for a run that is interrupted; folded into
#: ``results.jsonl`` at the end.
JOURNAL = "results.journal"


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def setup_key(spec: Assignment, limits: sandbox.Limits,
              catalogue: str = "off") -> dict[str, str]:
    """What a grade depends on besides the notebook: the course files, the
    limits (not how the sandbox starts, which changes no grade), the
    grader's version (its own source, hashed) and the catalogue of
    mistakes its feedback names (``"off"``: none)."""
    import platform

    import ziptie

    package = Path(ziptie.__file__).parent
    code = [p.read_bytes() for p in sorted(package.rglob("*.py"))]
    files = [x for name, data in sorted(spec.files.items())
             for x in (name, data)]
    return {"course": _digest(spec.digest, *files),
            "limits": _digest(json.dumps(dict(asdict(limits),
                                              warm_start=None),
                                         sort_keys=True)),
            "grader": _digest(ziptie.__version__,
                              platform.python_version(), *code),
            "diagnosis": catalogue}


_CHANGED = {"course": "the course files changed",
            "limits": "the limits changed",
            "grader": "the grader changed",
            "diagnosis": "the catalogue of mistakes changed"}


def _load_state(out: Path) -> dict[str, dict]:
    """The results of earlier runs: ``results.jsonl``, then the journal of
    an interrupted run; lines cut short are skipped."""
    state: dict[str, dict] = {}
    for path in (out / "results.jsonl", out / JOURNAL):
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8",
                                   errors="replace").splitlines():
            try:
                entry = json.loads(line)
                Result(**entry["result"])
                state[entry["key"]] = entry
            except (ValueError, KeyError, TypeError):
                continue
    return state


def _file_key(sub: Submission) -> str:
    """The submission as graded: its bytes, identity and notes. Raises
    OSError when the file cannot be read."""
    data = sub.path.read_bytes() if sub.path is not None else b""
    return _digest(data, sub.status, sub.name, sub.student_id,
                   json.dumps(sub.notes))


def _why_regrade(entry: dict | None, file: str,
                 setup: dict[str, str]) -> str:
    """Why an earlier result cannot be reused ("" when it can)."""
    if entry is None:
        return "new"
    if entry["result"].get("status") in ("grader-error", "not-graded"):
        return "not graded last time"
    if "file" not in entry:
        return "graded by an older version of the grader"
    if entry.get("file") != file:
        return "the notebook changed"
    old = entry.get("setup") or {}
    for part, why in _CHANGED.items():
        if old.get(part) != setup[part]:
            return why
    return ""


def _plan(found_subs: list[Submission], state: dict[str, dict],
          setup: dict[str, str]):
    """Which results to reuse and which submissions to grade, and why."""
    results: dict[str, Result] = {}
    todo: list[tuple[Submission, str]] = []
    why: dict[str, int] = {}
    for sub in found_subs:
        try:
            file = _file_key(sub)
        except OSError as err:
            sub.status = "unreadable"
            sub.notes.append(f"the file cannot be read ({err.strerror})")
            sub.path, file = None, _file_key(sub)
        reason = _why_regrade(state.get(sub.key), file, setup)
        if reason:
            todo.append((sub, file))
            why[reason] = why.get(reason, 0) + 1
        else:
            results[sub.key] = Result(**state[sub.key]["result"])
    return results, todo, why


def _entry(sub: Submission, file: str, setup: dict[str, str],
           result: Result) -> str:
    return json.dumps({"key": sub.key, "file": file, "setup": setup,
                       "result": asdict(result)}) + "\n"
