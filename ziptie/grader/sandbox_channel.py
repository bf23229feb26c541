"""What comes back from a run: the printed output, the results channel,
and the ``Outcome`` they fill.

The runner writes one signed JSON event a line on file descriptor 3
(``ziptie.grader.runner``); the grader reads it here, in threads of its
own, keeping nothing but what ``record`` folds into the ``Outcome``, so
its memory does not grow with what a submission sends.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ziptie.grader.runner import sign


@dataclass
class Outcome:
    """What came back from one run of the sandbox."""

    cells: dict[int, str | None] = field(default_factory=dict)
    probes: dict[int, dict] = field(default_factory=dict)
    finished: bool = False
    #: why the run ended early: "timeout", "cpu-limit", "memory-limit",
    #: "process-limit", "output-limit", "crashed (...)"
    problems: list[str] = field(default_factory=list)
    output: str = ""
    seconds: float = 0.0
    #: what the notebook's tripwires refused (``ziptie.grader.tripwire``)
    flags: list[str] = field(default_factory=list)
    #: by cell, the functions its task forbids that it called
    called: dict[int, list[str]] = field(default_factory=dict)



class Output(threading.Thread):
    """Drain the printed output; keep the first ``keep`` bytes, count all."""

    def __init__(self, stream, keep: int):
        super().__init__(daemon=True)
        self.stream, self.keep = stream, keep
        self.data = bytearray()
        self.total = 0

    def run(self) -> None:
        while chunk := self.stream.read1(1 << 16):
            self.total += len(chunk)
            room = self.keep - len(self.data)
            if room > 0:
                self.data += chunk[:room]


class Reader(threading.Thread):
    """Read the results channel: one JSON object a line, with a string
    ``"event"``, each handed to ``handle`` as it arrives.

    Nothing is kept here, so the grader's memory does not grow with what a
    submission sends. Reading stops and ``over`` says why at the first
    line longer than ``line_cap`` bytes, or once ``total_cap`` bytes came;
    the grader then ends the run (output-limit).
    """

    def __init__(self, stream, line_cap: int, total_cap: int,
                 handle: Callable[[dict], None], key: bytes):
        super().__init__(daemon=True)
        self.stream, self.handle = stream, handle
        self.line_cap, self.total_cap = line_cap, total_cap
        self.key = key              # every line is signed with it
        self.total = self.bad = self.forged = 0
        self.over = ""
        self.last = time.monotonic()   # when the last event came

    def run(self) -> None:
        buffer = bytearray()
        while not self.over and (chunk := self.stream.read1(1 << 16)):
            self.total += len(chunk)
            if self.total > self.total_cap:
                self.over = f"more than {self.total_cap} bytes of events"
                break
            buffer += chunk
            start = 0
            while not self.over and (end := buffer.find(b"\n", start)) >= 0:
                if end - start > self.line_cap:
                    self.over = f"an event of more than {self.line_cap} bytes"
                else:
                    self._line(bytes(buffer[start:end]))
                start = end + 1
            del buffer[:start]
            if len(buffer) > self.line_cap:
                self.over = f"an event of more than {self.line_cap} bytes"
        self.stream.close()

    def _line(self, line: bytes) -> None:
        mac, _, data = line.partition(b" ")
        expected = sign(self.key, data.decode("utf-8", "replace"))
        if not hmac.compare_digest(mac, expected.encode()):
            self.forged += 1        # not written by the runner
            return
        try:
            event = json.loads(data)
        except (ValueError, RecursionError):
            self.bad += 1
            return
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            self.last = time.monotonic()
            self.handle(event)
        else:
            self.bad += 1


def record(outcome: Outcome, event: dict, cells: int, probes: int) -> bool:
    """Fold one event into ``outcome``; False if it makes no sense."""
    kind, index = event["event"], event.get("index")
    if kind == "done":
        outcome.finished = True
        return True
    if kind == "flag":
        outcome.flags.append(str(event.get("what"))[:300])
        return True
    size = probes if kind.startswith("probe") else cells
    if type(index) is not int or not 0 <= index < size:
        return kind not in ("cell", "cell_done", "probe_start", "probe")
    if kind == "cell":
        outcome.cells.setdefault(index, "did not finish")
    elif kind == "cell_done":
        error = event.get("error")
        outcome.cells[index] = str(error)[:500] if error else None
        if event.get("forbidden"):
            outcome.called[index] = [str(n)[:100]
                                     for n in event["forbidden"][:5]]
    elif kind == "probe_start":
        outcome.probes.setdefault(index, {"error": "did not finish"})
    elif kind == "probe":
        outcome.probes[index] = {k: event[k] for k in (
            "values", "error", "forbidden", "args_after") if k in event}
    return True
