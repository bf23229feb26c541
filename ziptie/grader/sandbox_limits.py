"""What one submission may use, all its processes together: the limits of
the sandbox, set in one place.

``ziptie check``, ``ziptie grade`` and nbgrader (``nbgrader_config.py``)
take their defaults here. The control groups (``sandbox_cgroups``), the
jail's per-process limits (``sandbox_jail``) and the grader's watch over a
run (``sandbox_process``) hold a submission to them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

#: Seconds the grader waits past the runner's own alarm before it kills.
GRACE = 5.0


@dataclass(frozen=True)
class Limits:
    """What one submission may use, all its processes together.

    The one place the time limits are set: ``ziptie check``, ``ziptie
    grade`` and nbgrader (``nbgrader_config.py``) take their defaults here.
    """

    cell_timeout: float = 60.0       # seconds of wall clock per cell
    notebook_timeout: float = 600.0  # seconds of wall clock for the run
    cpu_time: float = 600.0          # CPU seconds of all its processes
    memory: int = 3 << 30            # bytes of memory (torch needs ~1G)
    processes: int = 64              # processes and threads
    disk: int = 256 << 20            # bytes in its private /tmp
    files: int = 10_000              # files and folders in its /tmp
    file_size: int = 64 << 20        # bytes in any file it writes
    output: int = 256 << 10          # bytes of printed output kept
    output_kill: int = 64 << 20      # bytes of printed output that end it
    event: int = 1 << 20             # bytes of one result event
    events: int = 16 << 20           # bytes of all its result events
    restarts: int = 2                # reruns without a cell that killed it
    #: fork each run from an interpreter with torch imported already
    #: (``sandbox_zygote``), or start a fresh one (the cold start)
    warm_start: bool = True

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "bool":
                if not isinstance(value, bool):
                    raise ValueError(f"Invalid {f.name}: {value!r} (must "
                                     f"be True or False)")
                continue
            low = 0 if f.name == "restarts" else 1e-9
            kind = float if f.type == "float" else int
            if type(value) not in (int, kind) or isinstance(value, bool) \
                    or not low <= value < float("inf"):
                what = "a whole number" if kind is int else "a number"
                floor = "of 0 or more" if low == 0 else "above 0"
                raise ValueError(f"Invalid {f.name}: {value!r} (must be "
                                 f"{what} {floor})")
