"""Which known mistake a failed task looks like, in words for the student.

Each assignment's catalogue, ``grading/<assignment>_wrong.py``, lists the
mistakes students make, each the solution with one idea made wrong. Once
per batch the grader

1. draws, for every task, a set of *diagnosis cases* from a seed made of
   the key in ``--out`` and the assignment alone, so that every
   submission meets the same ones;
2. has a process of its own (``ziptie.grader.diagnosis_reference``) run
   the solution and every entry of the catalogue on them, and keeps, for
   each task an entry loses, the entry's outputs there: its
   *fingerprint*. A fingerprint is kept only where the entry fails the
   task's own checks on these cases, is not within the matching tolerance
   of the solution's outputs, does not depend on the global random state
   and holds no error that an unanswered task raises as well, and only
   where the solution passes every case; the result is cached in
   ``--out/diagnosis.json``, keyed by the catalogue, the course files,
   the grader and the key, so a rerun computes nothing.

Then each submission answers the diagnosis cases of the tasks that have a
fingerprint, in its own sandbox run, after the graded cases (no point
depends on them, and what ends the sandbox there is not held against the
grade). For a task the submission *failed*, the feedback names every
entry whose fingerprint its outputs match, case by case
(``ziptie.grader.diagnosis_match``): numbers within a tolerance, an
exception where the entry raised one of the same kind, a forbidden call
where the entry made the same one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ziptie.grader.assignment import Assignment, grade_cells, runnable_cells
from ziptie.grader.diagnosis_match import kind, matches, words
from ziptie.grader.grade_resume import _digest
from ziptie.grader.report import write_atomic
from ziptie.grader.sandbox import Limits, Outcome
from ziptie.grader.verdict import _cell_forbid, _seed, reason

#: The cache of a batch's fingerprints, in ``--out``.
CACHE = "diagnosis.json"
#: What the sandbox writes for a probe that it ended in (``sandbox._skip``).
ENDED = "the sandbox ended here: "
#: Errors that a notebook with an unanswered task gives as well: a
#: mistake known by them would be named for any such notebook.
UNANSWERED = ("NameError", "NotImplementedError")
#: Seconds the reference run may take, at least.
TIME = 300.0


class Unusable(Exception):
    """Why the catalogue gives no fingerprints this time."""


@dataclass
class Diagnosis:
    """The diagnosis cases of a batch and the mistakes known by them."""

    #: for the instructor: what the diagnosis knows, or why it is off
    note: str
    #: by task, the probes of its diagnosis cases (those of tasks with a
    #: fingerprint only)
    cases: dict[str, list[dict]] = field(default_factory=dict)
    #: by task, each mistake's name and its outputs on those cases
    known: dict[str, list[tuple[str, list[dict]]]] = field(
        default_factory=dict)

    def probes(self, graded: list[dict]) -> tuple[list[dict], list[int]]:
        """The probes to add to a submission's ``graded`` ones, and where
        each diagnosis case's answer will be among all of them: a case
        that is also a graded one (a fixed case) is asked once."""
        known = {json.dumps(job, sort_keys=True): k
                 for k, job in enumerate(graded)}
        extra: list[dict] = []
        where = []
        for jobs in self.cases.values():
            for job in jobs:
                text = json.dumps(job, sort_keys=True)
                if text not in known:
                    known[text] = len(graded) + len(extra)
                    extra.append(job)
                where.append(known[text])
        return extra, where

    def split(self, outcome: Outcome, graded: int, where: list[int]
              ) -> tuple[Outcome, list[dict | None]]:
        """``outcome`` as if only the first ``graded`` probes had run, and
        the answer to each diagnosis case (``where``: from
        :meth:`probes`)."""
        extra = [v for k, v in outcome.probes.items() if k >= graded]
        problems = list(outcome.problems)
        for message in extra:            # a restart that skipped one
            error = str(message.get("error", ""))
            if error.startswith(ENDED) and error[len(ENDED):] in problems:
                problems.remove(error[len(ENDED):])
        if problems and {"error": "did not finish"} in extra:
            problems.pop()               # the last run ended in one
        return dataclasses.replace(outcome, problems=problems, probes={
            k: v for k, v in outcome.probes.items() if k < graded}), [
            outcome.probes.get(k) for k in where]

    def explain(self, failed: dict[str, str], seen: list[dict | None]
                ) -> dict[str, str]:
        """For each task in ``failed`` (its reason, by grade id) whose
        answers to its diagnosis cases (``seen``, from :meth:`split`) match
        known mistakes, its reason with the sentence that names them."""
        named: dict[str, str] = {}
        offset = 0
        for gid, jobs in self.cases.items():
            got = seen[offset:offset + len(jobs)]
            offset += len(jobs)
            if gid in failed:
                names = [name for name, want in self.known.get(gid, [])
                         if matches(got, want)]
                if names:
                    named[gid] = f"{failed[gid].rstrip(' .')}. {words(names)}"
        return named


# -- the fingerprints ---------------------------------------------------------

def catalogue_digest(course: Path, assignment: str) -> str:
    """The catalogue's text (and ``catalogue.py``'s), or ``"none"``."""
    grading = course / "grading"
    path = grading / f"{assignment}_wrong.py"
    if not path.is_file():
        return "none"
    helper = grading / "catalogue.py"
    return _digest(path.read_bytes(),
                   helper.read_bytes() if helper.is_file() else b"")


def _draw(spec: Assignment, secret: str) -> list[tuple[str, Any, Any]]:
    """Every task's diagnosis cases: the same for every submission."""
    import numpy as np

    cases = []
    for gid, task in spec.tasks.items():
        rng = np.random.default_rng(_seed(secret, "diagnosis", spec.name,
                                          gid))
        cases += [(gid, probe, expect) for probe, expect in task.draw(rng)]
    return cases


def _stops(source: dict) -> dict[str, int]:
    """For each test cell, how many cells to run run before it."""
    stops = {}
    graded = {gid for gid, c in grade_cells(source).items()
              if c["metadata"]["nbgrader"].get("grade")}
    for i, cell in enumerate(source["cells"]):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in graded:
            stops[gid] = len(runnable_cells(source, dict(
                source, cells=source["cells"][:i]))[0])
    return stops


def _reference(course: Path, spec: Assignment, cases: list,
               limits: Limits) -> dict:
    """What ``ziptie.grader.diagnosis_reference`` reports of the catalogue."""
    cells = runnable_cells(spec.source, spec.source)[0]
    job = {"grading": str((course / "grading").resolve()),
           "assignment": spec.name,
           "cells": [text for text, _ in cells],
           "origins": [origin for _, origin in cells],
           "stops": {gid: n for gid, n in _stops(spec.source).items()
                     if gid in spec.tasks},
           "tasks": [gid for gid, _, _ in cases],
           "probes": [probe.to_job() for _, probe, _ in cases],
           "cell_timeout": limits.cell_timeout,
           "cell_forbid": _cell_forbid(cells, cases, spec)}
    with tempfile.TemporaryDirectory(prefix="ziptie-reference-") as tmp:
        work, result = Path(tmp) / "work", Path(tmp) / "result.json"
        work.mkdir()
        for name, data in spec.files.items():
            (work / name).write_bytes(data)
        proc = subprocess.Popen(
            [sys.executable, "-I", "-m",
             "ziptie.grader.diagnosis_reference", str(result)], cwd=work,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                 "LANG": "C.UTF-8",
                 "OMP_NUM_THREADS": "1"})
        try:
            _, err = proc.communicate(json.dumps(job).encode(),
                                      timeout=max(TIME, limits.cell_timeout
                                                  * 5))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise Unusable("the solution and its mistakes ran past the "
                           "time limit") from None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode or not result.is_file():
            last = err.decode("utf-8", "replace").strip().splitlines()
            raise Unusable(last[-1] if last else
                           f"exit status {proc.returncode}")
        return json.loads(result.read_text(encoding="utf-8"))


def fingerprints(course: Path, spec: Assignment, secret: str,
                 limits: Limits) -> dict:
    """The diagnosis cases and the catalogue's fingerprints on them, as
    plain data (what ``diagnosis.json`` holds), with why each entry that
    has none is left out."""
    cases = _draw(spec, secret)
    data = _reference(course, spec, cases, limits)
    if data["cells"]:
        index, error = next(iter(data["cells"].items()))
        raise Unusable(f"the solution failed in cell {int(index) + 1}: "
                       f"{error}")
    by_task: dict[str, list[int]] = {}
    for k, (gid, _, _) in enumerate(cases):
        by_task.setdefault(gid, []).append(k)
    solution = data["runs"]["solution"]["probes"]

    def answers(outputs: dict, gid: str) -> list:
        return [outputs.get(str(k)) for k in by_task.get(gid, [])]

    def unusable(gid: str, got: list, again: list) -> str | None:
        """Why ``got`` cannot tell this mistake on task ``gid`` (``again``:
        its answers with the global random states changed)."""
        ks = by_task.get(gid, [])
        if not ks or None in got:
            return "no answer on the diagnosis cases"
        if not matches(again, got):
            return "its answers depend on the global random state"
        if any(reason(cases[k][1], cases[k][2], solution.get(str(k)))
               for k in ks):
            return "the solution fails the diagnosis cases"
        if not any(reason(cases[k][1], cases[k][2], g)
                   for k, g in zip(ks, got, strict=True)) or matches(
                got, answers(solution, gid)):
            return "right on the diagnosis cases"
        if any(kind(str(g["error"])) in UNANSWERED for g in got
               if "error" in g):
            return "raises what an unanswered task raises"
        return None

    known: dict[str, list] = {}
    left_out: dict[str, str] = {}
    for e, entry in enumerate(data["entries"]):
        run = data["runs"].get(str(e), {})
        why = entry["problem"] or run.get("failed")
        for gid in [] if why else entry["loses"]:
            got = answers(run.get("probes", {}), gid)
            why = unusable(gid, got, answers(run.get("again") or {}, gid))
            if why is None:
                known.setdefault(gid, []).append([entry["name"], got])
        if not any(entry["name"] == name for named in known.values()
                   for name, _ in named):
            left_out[entry["name"]] = str(why)
    return {"cases": {gid: [cases[k][1].to_job() for k in by_task[gid]]
                      for gid in known},
            "known": known, "left_out": left_out,
            "entries": len(data["entries"])}


def prepare(course: Path, spec: Assignment, out: Path, secret: str,
            setup: dict[str, str], limits: Limits) -> Diagnosis:
    """The batch's diagnosis, from the cache in ``out`` or computed (and
    cached); never raises: a missing or broken catalogue turns it off,
    with a note that says why."""
    digest = catalogue_digest(course, spec.name)
    name = f"grading/{spec.name}_wrong.py"
    if digest == "none":
        return Diagnosis(f"diagnosis: off, no catalogue of mistakes "
                         f"({name})")
    key = _digest(digest, setup.get("course", ""), setup.get("grader", ""),
                  secret)
    cache = out / CACHE
    start = time.monotonic()
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("key") != key:
            raise ValueError("another batch")
        how = "from an earlier run"
    except (OSError, ValueError, AttributeError):
        try:
            data = dict(fingerprints(course, spec, secret, limits), key=key)
        except Exception as err:  # noqa: BLE001 - grading goes on
            why = str(err) if isinstance(err, Unusable) else \
                f"{type(err).__name__}: {err}"
            return Diagnosis(f"diagnosis: off, {name} could not be used "
                             f"({why})"[:500])
        write_atomic(cache, json.dumps(data, allow_nan=True))
        how = f"computed in {time.monotonic() - start:.1f} s"
    try:
        known = {gid: [(str(n), list(o)) for n, o in entries]
                 for gid, entries in data["known"].items()}
        cases = {gid: list(jobs) for gid, jobs in data["cases"].items()}
        named = {n for entries in known.values() for n, _ in entries}
        note = (f"diagnosis: {len(named)} of {data['entries']} mistakes of "
                f"{name} known by their outputs ({how})" + (
                    f"; why not the others: {CACHE}" if data["left_out"]
                    else ""))
    except (KeyError, TypeError, ValueError) as err:
        return Diagnosis(f"diagnosis: off, {CACHE} is damaged ({err}): "
                         f"delete it")
    return Diagnosis(note, cases, known)
