"""The grading pipeline of ``ziptie grade``, one module a stage, in the
order a submission flows through them:

- ``submissions``: find whose notebook is whose; its parts:
  ``submissions_zip`` (unpack a zip, member by member),
  ``submissions_layouts`` (nbgrader, Canvas, Moodle, folders: whose a
  file is), ``submissions_found`` (each student's files, which one
  counts) and ``submissions_names`` (names safe to show);
- ``assignment``: load an assignment: its source notebook, its checks
  (``grading/<assignment>.py`` in the course), the cells to run;
- ``scan``: read the student's cells for tampering and forbidden
  shortcuts, before they run;
- ``sandbox``: start one submission in a limited, isolated process;
  its parts: ``sandbox_limits`` (what a submission may use),
  ``sandbox_isolation`` (what this machine gives), ``sandbox_cgroups``
  (caps on the whole process tree), ``sandbox_process`` (one start,
  watched from the grader), ``sandbox_jail`` (inside: namespaces, files,
  per-process limits) and ``sandbox_channel`` (what comes back);
- ``runner``: inside the sandbox, the student's cells, then the probes,
  with the tripwires of ``tripwire`` in place; ``runner_probe`` runs one
  probe's steps and reads and writes the values they exchange;
- ``wire``: values across the boundary, as JSON;
- ``probe`` and ``recipes``: what a check asks and how it compares;
- ``verdict``: one submission's points, decided from what came back;
- ``report``: ``grades.csv``, feedback pages, the summary;
- ``gradebook``: ``--out`` as an nbgrader course that nbgrader's own
  tools read, set up; ``gradebook_record`` records each result in it,
  with the notebook a person grades (``gradebook_autograded``);
- ``grade``: the batch, submissions in, report out; its parts:
  ``grade_resume`` (what a grade depends on, which earlier results are
  reused), ``grade_workers`` (several submissions at once) and
  ``grade_output`` (the files a run writes).

The helpers students use in their notebooks import nothing from here
(``ziptie check`` runs a notebook in the same sandbox).
"""
