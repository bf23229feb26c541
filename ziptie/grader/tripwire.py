"""Tripwires inside the sandbox: what a graded notebook may not do.

Code in the student's process can reach anything in that process, so the
grader never trusts what comes back (see ``ziptie.grader.scan`` for what it
reads in the submitted cells before they run). These tripwires make the
shortcuts fail where they happen, and leave a record:

- an **audit hook** (PEP 578; once added, a hook cannot be removed from
  Python) refuses, when the student's code asks for them, the events that
  reach into the grader's own code or out of the notebook: frames and
  tracebacks, the garbage collector's lists of objects, ``ctypes``, other
  processes, threads, sockets, file descriptors and ``/proc``, code
  objects made by hand, a profiler or tracer of its own;
- the same hook refuses to open scikit-learn's file of the handwritten
  digits except from ``ziptie.data``, which never returns the images the
  grader keeps back to score trained classifiers on;
- a **profile function** (``sys.setprofile``, which the audit hook keeps
  the student's code from replacing), installed while a probe runs, that
  refuses every call of a function the task forbids, whatever name the
  notebook bound it to: ``F.cross_entropy``, an alias imported earlier,
  ``nn.CrossEntropyLoss``, which calls it, or the private binding
  ``torch._C._nn.cross_entropy_loss`` underneath.

A refusal raises ``PermissionError`` in the notebook and is recorded; the
runner reports the records and the grader takes the task's points.

The student's code is told apart by where its frames come from: IPython
compiles a cell under a name such as ``<ipython-input-3-...>``, and every
library the course uses lives in a file under the Python installation or
the ``ziptie`` package. Frames of the standard library are looked through,
so that ``inspect.currentframe()`` counts as the caller's own request.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Callable, Iterable

#: Audit events the student's code may never raise.
REFUSED = (
    "sys._getframe", "sys._current_frames", "sys._current_exceptions",
    "sys.settrace", "sys.setprofile", "sys.addaudithook",
    "object.__getattr__",          # tb_frame, gi_frame, f_back, __code__
    "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "code.__new__", "function.__new__", "marshal.loads", "marshal.load",
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "os.kill", "os.killpg", "subprocess.Popen", "pty.spawn",
    "_thread.start_new_thread", "exec", "compile",
)
#: Prefixes of whole families of events (``ctypes.dlopen``, ...).
REFUSED_FAMILIES = ("ctypes.", "socket.", "_posixsubprocess.", "mmap.",
                    "sqlite3.", "winreg.", "resource.", "signal.")
#: Paths that lead to file descriptors or other processes.
PRIVATE_PATHS = ("/proc", "/dev/fd", "/dev/std", "/dev/tty", "/dev/pts")
#: scikit-learn's file of the digits, which only ``ziptie.data`` may read.
DIGITS_FILE = os.path.join("sklearn", "datasets", "data", "digits.csv.gz")
#: Modules of the standard library allowed to ask for a frame on behalf
#: of the student's code (``namedtuple`` and ``dataclass`` name a module).
FRAME_HELPERS = ("collections", "typing", "enum", "dataclasses",
                 "warnings", "logging", "abc", "functools")
#: Events judged by the frame that raised them, not a helper's caller: the
#: standard library compiles code for ``dataclass`` and ``namedtuple``, and
#: ``inspect.signature`` reads a function's ``__code__`` and
#: ``__defaults__`` (``"__code__"`` stands for every such attribute but a
#: frame: ``tb_frame``, ``gi_frame``, ...).
DIRECT = ("exec", "compile", "marshal.loads", "marshal.load", "__code__")
#: Trusted functions that only pass the student's own request on: IPython
#: wraps ``open`` in the notebook's namespace and runs ``!command``.
PROXIES = ("_modified_open", "system", "system_piped", "system_raw",
           "getoutput")


def _roots() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the standard library's folders, the folders of trusted code)."""
    paths = sysconfig.get_paths()
    stdlib = tuple({os.path.realpath(paths["stdlib"]),
                    os.path.realpath(paths["platstdlib"])})
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    trusted = tuple({os.path.realpath(paths["purelib"]),
                     os.path.realpath(paths["platlib"]), package,
                     *(os.path.realpath(p) for p in sys.path
                       if "site-packages" in p)})
    return stdlib, trusted


def _stdlib_module(filename: str, stdlib: tuple[str, ...]) -> str | None:
    for root in stdlib:
        if filename.startswith(root + os.sep):
            rest = filename[len(root) + 1:]
            if rest.startswith("site-packages"):
                return None
            return rest.split(os.sep)[0].removesuffix(".py")
    return None


def _is_private_path(path) -> bool:
    if isinstance(path, int):
        return True
    if isinstance(path, bytes):
        path = path.decode("utf-8", "replace")
    if not isinstance(path, str):
        return False
    real = os.path.normpath(path)
    return any(real == p or real.startswith(p + "/") for p in PRIVATE_PATHS)


def _refused(event: str, args: tuple) -> bool:
    if event in ("open", "os.open"):
        return _is_private_path(args[0]) if args else False
    if event in ("os.listdir", "os.scandir", "os.chdir", "os.readlink"):
        return bool(args) and _is_private_path(args[0])
    if event == "object.__setattr__":
        return len(args) > 1 and args[1] in ("__code__", "__globals__",
                                             "__class__", "__closure__")
    return event in REFUSED or event.startswith(REFUSED_FAMILIES)


def _opens_the_digits(event: str, args: tuple) -> bool:
    if event != "open" or not args or isinstance(args[0], int):
        return False
    try:
        path = os.fsdecode(args[0])
    except TypeError:
        return False
    return os.path.normpath(path).endswith(os.sep + DIGITS_FILE)


def _from_ziptie_data(frame) -> bool:
    """Whether ``ziptie.data``'s reader of the digits is on the stack."""
    data = os.path.join(os.path.dirname(os.path.dirname(
        os.path.realpath(__file__))), "data.py")
    while frame is not None:
        if frame.f_code.co_name == "_digits" and \
                os.path.realpath(frame.f_code.co_filename) == data:
            return True
        frame = frame.f_back
    return False


def install_audit_hook(hits: list[str]) -> None:
    """Add the hook that refuses ``REFUSED`` events to the student's code;
    each refusal is appended to ``hits`` as ``"event (cell line)"``."""
    stdlib, trusted = _roots()
    getframe = sys._getframe
    busy = [False]

    def student(frame) -> str | None:
        name = frame.f_code.co_filename
        if _stdlib_module(name, stdlib) is not None or name.startswith(
                ("<frozen", *trusted)):
            return None
        if name.startswith("<ipython-input-"):
            return f"line {frame.f_lineno}"
        return f"{name[:80]}, line {frame.f_lineno}"

    def blame(frame, kind: str) -> str | None:
        """Where in the student's code the event comes from, or None."""
        if kind in DIRECT:
            return student(frame)
        while frame is not None:
            where = student(frame)
            if where is not None:
                return where
            module = _stdlib_module(frame.f_code.co_filename, stdlib)
            if module is None and not frame.f_code.co_filename.startswith(
                    "<frozen") and frame.f_code.co_name not in PROXIES:
                return None         # a library's own request
            if kind == "sys._getframe" and module in FRAME_HELPERS:
                return None
            frame = frame.f_back
        return None

    def digits(frame) -> None:
        if _from_ziptie_data(frame):
            return
        while frame is not None and student(frame) is None:
            frame = frame.f_back
        where = student(frame) if frame is not None else "a library"
        hits.append(f"reads the digits outside ziptie.data ({where})")
        raise PermissionError("reads the digits outside ziptie.data, which "
                              "keeps back the images the grader scores on: "
                              "load them with ziptie.data.load")

    def hook(event: str, args: tuple) -> None:
        if busy[0]:
            return
        if _opens_the_digits(event, args):
            busy[0] = True
            try:
                digits(getframe(1))
            finally:
                busy[0] = False
            return
        if not _refused(event, args):
            return
        busy[0] = True
        kind = "__code__" if event == "object.__getattr__" and len(
            args) > 1 and "frame" not in str(args[1]) else event
        try:
            where = blame(getframe(1), kind)
        finally:
            busy[0] = False
        if where is None:
            return
        what = f"{event} {args[1]}" if event.startswith("object.") else event
        hits.append(f"{what} ({where})")
        raise PermissionError(f"{what} is not allowed in a graded notebook")

    sys.addaudithook(hook)


class Forbidden:
    """What a probe may not call, resolved once, before any student code
    runs, to the objects themselves: a rebinding cannot hide them."""

    def __init__(self, names: Iterable[str]):
        self.codes: dict[object, str] = {}      # Python functions
        self.builtins: dict[int, str] = {}       # C functions, by identity
        self.methods: dict[str, tuple] = {}      # C methods, by name
        for name in names:
            self._add(name)

    def _add(self, name: str) -> None:
        obj = _lookup(name)
        if obj is None:
            return
        code = getattr(obj, "__code__", None)
        owner = getattr(obj, "__self__", None)
        if code is not None:
            self.codes[code] = name
        elif type(obj).__name__ == "method_descriptor":
            self.methods[obj.__name__] = (obj.__objclass__, name)
        elif owner is not None and not isinstance(owner, type(sys)):
            # a method of one object (the autograd engine's run_backward):
            # a new bound method each time, so known by name and class
            self.methods[obj.__name__] = (type(owner), name)
        else:
            self.builtins[id(obj)] = name

    def match(self, event: str, frame, arg) -> str | None:
        """The forbidden name a profile event calls, or None."""
        if event == "call":
            return self.codes.get(frame.f_code)
        if event != "c_call":
            return None
        name = self.builtins.get(id(arg))
        if name is None:
            method = self.methods.get(getattr(arg, "__name__", ""))
            if method and isinstance(getattr(arg, "__self__", None),
                                     method[0]):
                name = method[1]
        return name

    def __bool__(self) -> bool:
        return bool(self.codes or self.builtins or self.methods)


def _lookup(name: str):
    """The object a dotted name stands for now, or None."""
    import importlib

    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


def profiler(forbidden: Forbidden, hits: list[str]) -> Callable:
    """A profile function that refuses the ``forbidden`` calls: the first
    one raises ``PermissionError`` and is appended to ``hits``."""
    def profile(frame, event, arg):
        name = forbidden.match(event, frame, arg)
        if name is not None and name not in hits:
            hits.append(name)
            raise PermissionError(f"{name} may not be used here")
    return profile
