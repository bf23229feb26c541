"""The grading pipeline of ``ziptie grade``, a stage at a time, in the
order a submission flows through it. A stage too big for one module has a
module of its name (its front door) and parts named ``<stage>_<part>``:

- ``submissions``: find whose notebook is whose;
  ``submissions_zip`` unpacks a zip, member by member;
  ``submissions_layouts`` reads whose a file is (nbgrader, Canvas, Moodle,
  folders); ``submissions_found`` picks each student's notebook;
  ``submissions_names`` makes names safe to show;
- ``assignment``: load an assignment: its source notebook, its checks
  (``grading/<assignment>.py`` in the course), the cells to run;
- ``scan``: read the student's cells for tampering and forbidden
  shortcuts, before they run;
- ``sandbox``: start one submission in a limited, isolated process;
  ``sandbox_limits``: what a submission may use;
  ``sandbox_isolation``: what this machine gives;
  ``sandbox_cgroups``: caps on the whole process tree;
  ``sandbox_process``: one start, watched from the grader;
  ``sandbox_zygote``: the warm start, each run forked from a prepared
  interpreter;
  ``sandbox_jail``: inside, the namespaces, files and per-process limits;
  ``sandbox_channel``: the output and the results that come back;
- ``runner``: inside the sandbox, the student's cells, then the probes,
  with the tripwires of ``tripwire`` in place; ``runner_probe``: one
  probe's steps, and the values they take and give back;
- ``wire``: values across the boundary, as JSON;
- ``probe`` and ``recipes``: what a check asks and how it compares;
- ``verdict``: one submission's points, decided from what came back;
- ``diagnosis``: which catalogued mistake (``grading/<assignment>_wrong.py``)
  a failed task looks like, from the catalogue's outputs on cases every
  submission also answers; ``diagnosis_reference``: those outputs,
  computed once a batch in a process of its own; ``diagnosis_match``:
  whether a submission's outputs are a mistake's;
- ``report``: ``grades.csv``, feedback pages, the summary;
- ``gradebook``: ``--out`` as an nbgrader course that nbgrader's own
  tools read, set up; ``gradebook_record``: each result recorded in it;
  ``gradebook_autograded``: the notebook a person grades;
- ``grade``: the batch, submissions in, report out;
  ``grade_resume``: what a grade depends on, which earlier results are
  reused; ``grade_workers``: several submissions at once;
  ``grade_dask``: on a Dask cluster, a task each (``--scheduler``);
  ``grade_output``: the files a run writes.

The helpers students use in their notebooks import nothing from here
(``ziptie check`` runs a notebook in the same sandbox).
"""
