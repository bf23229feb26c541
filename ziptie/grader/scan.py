"""Read the student's cells before they run: what a graded notebook may not
write, in any spelling.

The grader runs this in its own process, over the cells that come from the
student (solution cells and added cells; locked cells are the course's
own). It looks for two kinds of thing:

- **tampering**: reaching into the grader or out of the notebook: frames
  and tracebacks, the garbage collector, ``ctypes``, raw file descriptors,
  ``os._exit``, other processes, ``sys.modules``, the grading machinery
  (``ziptie.grader``), IPython's shell and its ``!``/``%`` commands,
  ``exec``, ``eval``, ``getattr`` with a computed name, dunder attributes
  such as ``__globals__`` or ``__subclasses__``, private parts of the
  libraries (``torch._C``, ``torch.ops``), and reading the handwritten
  digits around ``ziptie.data``, which keeps back the images the grader
  scores trained classifiers on;
- **forbidden shortcuts** of one task: a function the task must not use
  (``torch.nn.functional.cross_entropy`` where the task is to write it),
  by its full name, an alias (``import torch.nn.functional as F``), a
  name imported from it, or a method of that name.

Static reading cannot see everything (code can be built at run time), which
is why ``ziptie.grader.tripwire`` also refuses these things while the
notebook runs; and run-time tripwires can miss what never runs on the
grader's inputs, which is why this pass exists too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Modules a graded notebook has no business importing.
MODULES = {
    "ctypes", "gc", "inspect", "subprocess", "multiprocessing", "socket",
    "signal", "threading", "_thread", "atexit", "builtins", "importlib",
    "marshal", "pickle", "types", "posix", "_io",
    "code", "codeop", "faulthandler", "resource", "pty", "fcntl", "mmap",
    "sysconfig", "site", "runpy", "pdb", "bdb", "trace", "tracemalloc",
    "copyreg", "dis", "_json", "json.encoder", "IPython", "__main__",
    "ziptie.grader",
}
#: Attributes of ``os`` that reach file descriptors or other processes.
OS_NAMES = {
    "write", "writev", "pwrite", "pwritev", "read", "readv", "pread",
    "fdopen", "dup", "dup2", "open", "openpty", "close", "closerange",
    "_exit", "abort", "kill", "killpg", "fork", "forkpty", "system",
    "popen", "posix_spawn", "posix_spawnp", "execv", "execve", "execl",
    "execle", "execlp", "execlpe", "execvp", "execvpe", "spawnv",
    "spawnve", "spawnl", "spawnle", "fstat", "lseek", "pipe", "pipe2",
    "set_inheritable", "set_blocking", "sendfile", "truncate", "ftruncate",
    "register_at_fork", "setuid", "setgid", "chroot", "unshare", "setns",
    "scandir", "listdir", "remove", "unlink", "rmdir", "rename", "replace",
    "symlink", "link", "chmod", "chown", "mkfifo", "mknod",
}
#: Attributes of ``sys`` that reach the interpreter's insides.
SYS_NAMES = {
    "modules", "_getframe", "_current_frames", "_current_exceptions",
    "settrace", "setprofile", "gettrace", "getprofile", "addaudithook",
    "audit", "meta_path", "path_hooks", "path_importer_cache",
    "excepthook", "displayhook", "breakpointhook", "unraisablehook",
    "__stdout__", "__stderr__", "__stdin__", "stdin", "call_tracing",
    "_exit", "exit", "setswitchinterval", "settscdump", "setdlopenflags",
}
#: Built-in functions that run or reach code by name.
BUILTINS = {
    "exec", "eval", "compile", "__import__", "globals", "locals", "vars",
    "breakpoint", "get_ipython", "exit", "quit", "input", "__builtins__",
    "__loader__", "__spec__", "getattr", "setattr", "delattr", "hasattr",
}
#: Of those, the ones an honest notebook calls with a plain attribute name.
BY_NAME = {"getattr", "setattr", "delattr", "hasattr"}
#: What reaches an attribute by name as ``getattr`` does, but later, on an
#: object the scan cannot see.
BY_NAME_LATER = {"operator.attrgetter", "operator.methodcaller"}
#: Dunder attributes an honest notebook uses; any other is tampering.
DUNDERS_OK = {
    "__init__", "__call__", "__name__", "__qualname__", "__doc__",
    "__len__", "__getitem__", "__setitem__", "__iter__", "__next__",
    "__repr__", "__str__", "__eq__", "__ne__", "__lt__", "__le__",
    "__gt__", "__ge__", "__hash__", "__contains__", "__add__", "__sub__",
    "__mul__", "__truediv__", "__matmul__", "__neg__", "__class__",
    "__enter__", "__exit__", "__version__", "__file__", "__module__",
    "__annotations__",
}
#: Other attributes that lead to frames and code.
ATTRIBUTES = {
    "f_back", "f_locals", "f_globals", "f_code", "f_builtins", "f_trace",
    "tb_frame", "tb_next", "gi_frame", "gi_code", "cr_frame", "cr_code",
    "ag_frame", "ag_code", "co_code", "co_consts", "cell_contents",
    "user_ns", "user_module", "register_magic_function",
}
#: Ways to the digits around ``ziptie.data`` (which keeps some back).
DIGITS = ("sklearn.datasets.load_digits", "sklearn.datasets.data")
#: Libraries whose private parts (``torch._C``) a notebook must not use.
LIBRARIES = {"torch", "numpy", "scipy", "sklearn", "matplotlib", "ziptie",
             "tqdm"}


@dataclass(frozen=True)
class Finding:
    """One thing the scan saw: in which cell, on which line, what."""

    cell: int
    line: int
    what: str
    task: str | None = None     # the task it costs; None: tampering

    def __str__(self) -> str:
        return f"cell {self.cell + 1}, line {self.line}: {self.what}"


#: Magics an honest notebook leaves in (they reach nothing), and the one
#: command: installing a package, which has no network in the sandbox.
HARMLESS = re.compile(r"^(%matplotlib( \w+)?|%config [\w.]+ ?= ?[\w'\".]+"
                      r"|%%?timeit\b.*|%%?time\b.*|%load_ext autoreload"
                      r"|%autoreload( \d)?|%precision( \d+)?"
                      r"|[!%]pip install [^;|&$`<>(){}\\]+)$")


def without_installs(cell: str) -> str:
    """The cell with its ``!pip install`` lines turned into comments: the
    sandbox has no network, and starting pip is starting a process."""
    def keep(line: str) -> str:
        found = re.match(r"^(\s*)[!%]pip install", line)
        return line if not found else \
            f"{found.group(1)}pass  # not run by the grader: {line.strip()}"
    return "\n".join(keep(line) for line in cell.split("\n"))


def _timed_as_code(cell: str) -> str:
    """``%time``/``%timeit`` run their argument (``%%time`` the rest of the
    cell) as Python: read it as Python, on the same lines."""
    lines = cell.split("\n")
    for k, line in enumerate(lines):
        found = re.match(r"^(\s*)%(%?)time(?:it)?\b((?:\s+-\S+)*)\s*(.*)$",
                         line)
        if found:
            indent, cell_magic, _, code = found.groups()
            lines[k] = "" if cell_magic else indent + code
    return "\n".join(lines)


def python_source(cell: str) -> tuple[str, list[tuple[int, str]]]:
    """The cell as Python, IPython's syntax turned into calls as IPython
    does; and the lines IPython would run as commands or magics, but for
    the harmless ones."""
    from IPython.core.inputtransformer2 import TransformerManager

    commands = [(n, line.strip()) for n, line in
                enumerate(cell.splitlines(), 1)
                if line.lstrip().startswith(("!", "%"))]
    cell = _timed_as_code(cell)
    try:
        return TransformerManager().transform_cell(cell), commands
    except Exception:  # noqa: BLE001 - IPython's syntax error: run it as is
        return cell, commands


class _Reader(ast.NodeVisitor):
    """Walk one cell; record tampering and uses of forbidden names."""

    def __init__(self, forbidden: list[tuple[str, str]]):
        self.cell, self.forbidden = 0, forbidden
        self.found: list[Finding] = []
        # A notebook's cells share one namespace, so do their aliases.
        self.aliases: dict[str, str] = {}   # local name -> dotted name
        self.harmless: set[tuple[int, int]] = set()  # (cell, line) magics

    def flag(self, node, what: str, task: str | None = None) -> None:
        self.found.append(Finding(self.cell, getattr(node, "lineno", 0),
                                  what, task))

    def dotted(self, node) -> str | None:
        """``F.cross_entropy`` as ``torch.nn.functional.cross_entropy``."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        root = self.aliases.get(node.id, node.id)
        return ".".join([root, *reversed(parts)])

    def check_name(self, node, name: str) -> None:
        for banned in MODULES | BY_NAME_LATER:
            if name == banned or name.startswith(banned + "."):
                self.flag(node, f"uses {name}")
                return
        if name.startswith(DIGITS):
            self.flag(node, f"reads the digits outside ziptie.data ({name})")
            return
        module, _, attr = name.rpartition(".")
        if (module == "os" and attr in OS_NAMES) or (
                module == "sys" and attr in SYS_NAMES):
            self.flag(node, f"uses {name}")
            return
        root, *rest = name.split(".")
        if root in LIBRARIES and any(
                p.startswith("_") and not (p.startswith("__") and
                                           p.endswith("__")) for p in rest):
            self.flag(node, f"uses the private {name}")
        elif root in LIBRARIES and "ops" in rest[:1]:
            self.flag(node, f"uses {name}")
        self.check_forbidden(node, name)

    def check_forbidden(self, node, name: str) -> None:
        attr = name.rpartition(".")[2]
        for banned, task in self.forbidden:
            owner, _, banned_attr = banned.rpartition(".")
            exact = name == banned or name.startswith(banned + ".")
            method = owner.endswith("Tensor") and attr == banned_attr
            module = banned_attr == "__init__" and name.startswith(
                owner.rpartition(".")[0] + ".")
            if exact or method or module:
                self.flag(node, f"uses {banned}, which this task forbids",
                          task)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.check_name(node, alias.name)
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else local

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        self.check_name(node, module)
        for alias in node.names:
            full = f"{module}.{alias.name}"
            if alias.name == "*":
                if module.split(".")[0] in ("os", "sys"):
                    self.flag(node, f"imports * from {module}")
                continue
            self.check_name(node, full)
            self.aliases[alias.asname or alias.name] = full

    def check_attribute(self, node, attr: str) -> None:
        if attr.startswith("__") and attr.endswith("__") and \
                attr not in DUNDERS_OK or attr in ATTRIBUTES:
            self.flag(node, f"reads the attribute {attr}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.check_attribute(node, node.attr)
        name = self.dotted(node)
        if name is None:
            if isinstance(node.ctx, ast.Load):
                self.check_forbidden(node, "?." + node.attr)
            self.visit(node.value)
            return
        self.check_name(node, name)
        root = name.split(".")[0]
        if not isinstance(node.ctx, ast.Load) and (
                root in LIBRARIES or root == "builtins") and \
                not name.startswith("torch.backends."):
            self.flag(node, f"replaces {name}")
        inner = node.value          # one finding for the whole chain
        while isinstance(inner, ast.Attribute):
            self.check_attribute(inner, inner.attr)
            inner = inner.value
        self.visit(inner)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in BY_NAME and len(
                node.args) < 2 and not any(isinstance(a, ast.Starred)
                                           for a in node.args):
            for arg in [*node.args, *node.keywords]:  # getattr(obj): a
                self.visit(arg)                     # TypeError, no reach
            return
        if isinstance(func, ast.Name) and func.id in BY_NAME:
            obj = node.args[0] if node.args else None
            attr = node.args[1] if len(node.args) > 1 else None
            rest = [*node.args, *node.keywords]
            if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                self.visit_Attribute(self.spelled_out(node, func.id, attr))
                rest = rest[1:]                 # the object: visited there
            elif not self.own_numbered(obj, attr):
                self.flag(node, f"calls {func.id} with a computed name")
            for arg in rest:
                self.visit(arg)
            return
        self.generic_visit(node)

    @staticmethod
    def spelled_out(node: ast.Call, how: str, attr: ast.Constant
                    ) -> ast.Attribute:
        """``setattr(obj, "name", v)`` as the ``obj.name = v`` it is (and
        ``getattr``, ``hasattr`` as a read, ``delattr`` as a ``del``), so
        that a name in a string meets every rule the attribute meets."""
        ctx = {"setattr": ast.Store(), "delattr": ast.Del()}.get(
            how, ast.Load())
        return ast.copy_location(
            ast.Attribute(value=node.args[0], attr=str(attr.value), ctx=ctx),
            node)

    def own_numbered(self, obj, attr) -> bool:
        """``setattr(self, f"fc{i}", layer)``: a name built on a plain
        prefix, on the student's own object, as a module with one layer a
        size registers its layers. No such name is a dunder, private, one
        of the names that reach frames, files or processes, or a function
        a task forbids."""
        if not (isinstance(obj, ast.Name) and obj.id == "self"
                and "self" not in self.aliases
                and isinstance(attr, ast.JoinedStr) and attr.values
                and isinstance(attr.values[0], ast.Constant)):
            return False
        prefix = str(attr.values[0].value)
        risky = ATTRIBUTES | SYS_NAMES | OS_NAMES | BUILTINS | {
            banned.rpartition(".")[2] for banned, _ in self.forbidden}
        return prefix[:1].isalpha() and not any(
            name.startswith(prefix) for name in risky)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        value = self.dotted(node.value) if isinstance(
            node.value, ast.Attribute | ast.Name) else None
        for target in node.targets:
            if isinstance(target, ast.Name) and value is not None:
                self.aliases[target.id] = value

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in BUILTINS:
            self.flag(node, f"uses {node.id}")
        elif node.id in self.aliases:
            self.check_name(node, self.aliases[node.id])

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and (
                node.value in ATTRIBUTES or node.value in SYS_NAMES - {
                    "exit", "stdin", "modules", "audit"}
                or node.value.startswith("ziptie.grader")
                or "digits.csv" in node.value):
            self.flag(node, f"names {node.value!r}")


def scan(cells: list[tuple[int, str]],
         forbidden: Iterable[tuple[str, str]] = ()) -> list[Finding]:
    """What the student's ``cells`` (index, source) hold of tampering, and
    of the ``forbidden`` names ((dotted name, the task that forbids it))."""
    reader = _Reader(list(forbidden))
    for index, source in cells:
        code, commands = python_source(source)
        for line, command in commands:
            if HARMLESS.match(command):
                reader.harmless.add((index, line))
            else:
                reader.found.append(Finding(index, line,
                                            f"runs the command {command!r}"))
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            continue     # it fails when it runs, and says why
        reader.cell = index
        reader.visit(tree)
    found = {f for f in reader.found if (f.cell, f.line) not in
             reader.harmless or f.what != "uses get_ipython"}
    return sorted(found, key=lambda f: (f.cell, f.line, f.what))
