"""The hostile-corpus harness: runs every case of `tests/hostile/cases_*.py` and judges each run.

A case with empty `args` runs in every mode of `MODES` (config, diff --against, lint, graph, in
each output format); a case with `args` runs once, as given. Each run is judged by `judge`:

* ``secret``: the planted `SECRET` (or any 8 characters of it) in stdout, stderr or a file the
  run wrote (`diff -o`, `graph -o`, `import`), but a `.env` that `import` wrote 0600;
* ``hang``: the run took over `RUN_LIMIT` seconds (or was killed by the watchdog);
* ``exit70`` / ``exitN``: an exit code outside 0–3 (70 is the CLI's "internal error");
* ``traceback``: a Python traceback in the output;
* ``forged-line``: a line of output that starts with the planted `FORGED` marker, after the
  punctuation and kind word a plan line begins with (``    + container FORGED``): a case plants
  a line break followed by `FORGED`, and the marker must stay on the line stackup began;
* ``control-char``: a raw control character other than ``\\n`` and ``\\t`` (C0, DEL, C1, bidi
  overrides and isolates) in any output; the harness sets NO_COLOR, so stackup makes none;
* ``opened-outside``: an untrusted run (`--untrusted`, STACKUP_UNTRUSTED=1, `diff --against`,
  `diff --base`) of a case laid out under `repo/` opened a file outside `repo/` (or a watched
  system file such as /proc/self/environ), seen by an audit hook; files named on the command
  line excepted;
* ``env-mode``: a `.env` the run wrote (`import`) can be read by others (not 0600);
* ``bad-args``: click did not know an argument: the case did not run as written;
* ``markdown-*``: in Markdown output, rendered with markdown-it-py (CommonMark plus GFM tables):
  an image, a link (GFM autolinks of bare URLs included), raw HTML other than stackup's own
  ``<details>`` wrapper, a code fence other than stackup's ``diff`` blocks, a table row whose
  cell count (split as GitHub splits, on every unescaped ``|``) differs from the header's, or a
  block that starts with the `FORGED` marker.

Cases of class ``control`` show a secret on purpose (`--show-sensitive`): they must be judged
``secret``, which proves the detector sees what it looks for.

Cost: a case is one forked process (from a worker that imported stackup once) running its modes
in-process through `stackup.cli.main`, the real entry point, with its exit-code and error
handling; an exception escaping it is reported as exit 70 with its traceback, as the real process
would die. Each run has an alarm at `RUN_LIMIT` and the process a memory limit; a watchdog kills a
process stuck in C code and carries on with the next mode in a new fork. Cases marked
`subprocess=True` (they read /proc/self/environ, which a fork does not change) exec a fresh
Python instead of forking.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import pickle
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from tests.unit.hostile_cases import SECRET, Case, cwd_of, materialise

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

FORGED = "FORGED"
RUN_LIMIT = 10.0  # seconds: a run over this is a hang
WATCHDOG_GRACE = 15.0  # after RUN_LIMIT, for a run stuck where the alarm cannot reach it
MEMORY_LIMIT = 2 << 30  # bytes of address space a case may add to the worker's
FILE_READ_LIMIT = 8 << 20  # bytes of a written file that are judged
BASE_FILE = "base.yaml"  # written beside the stack for the `diff --against` modes
PLAN_OUTPUT = "hostile-plan.json"

MODES: dict[str, tuple[str, ...]] = {
    "config-yaml": ("config", "--format", "yaml"),
    "config-json": ("config", "--format", "json"),
    "diff-text": ("diff", "--against", BASE_FILE),
    "diff-json": ("diff", "--against", BASE_FILE, "--format", "json"),
    "diff-markdown": ("diff", "--against", BASE_FILE, "--format", "markdown"),
    "diff-o": ("diff", "--against", BASE_FILE, "-o", PLAN_OUTPUT),
    "lint-text": ("lint", "--format", "text"),
    "lint-json": ("lint", "--format", "json"),
    "lint-sarif": ("lint", "--format", "sarif"),
    "graph-text": ("graph", "--format", "text"),
    "graph-dot": ("graph", "--format", "dot"),
    "graph-mermaid": ("graph", "--format", "mermaid"),
}
DEFAULT_BASE = "name: hostile\nservices:\n  web:\n    image: nginx:1.27\n"

# --- collecting --------------------------------------------------------------------------


def case_modules() -> list[ModuleType]:
    import importlib

    return [
        importlib.import_module(f"tests.hostile.{path.stem}")
        for path in sorted(HERE.glob("cases_*.py"))
    ]


def collect() -> list[Case]:
    """Every case of every `cases_*.py`, checked: unique names, a class each."""
    cases: list[Case] = []
    for module in case_modules():
        for case in module.cases():
            assert case.klass, f"{module.__name__}: case {case.name} has no klass"
            cases.append(case)
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"case names must be unique: {duplicates[:10]}"
    return cases


def known_failures() -> dict[str, str]:
    """Case name → why it fails today, from each module's optional `KNOWN_FAILURES`."""
    out: dict[str, str] = {}
    for module in case_modules():
        out.update(getattr(module, "KNOWN_FAILURES", {}))
    return out


def modes_of(case: Case) -> list[tuple[str, tuple[str, ...]]]:
    if case.args:
        return [("args", case.args)]
    return list(MODES.items())


# --- judging -----------------------------------------------------------------------------

# C0 but \t and \n, DEL, C1, and the bidi controls that reorder what a reader sees.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What a plan, graph or lint line begins with before user text: indentation, symbols, a kind.
_LINE_HEAD = re.compile(
    r"[^0-9A-Za-z]*(?:(?:container|network|volume|service|image|config|secret|"
    r"error:|warning:|hint:|wave \d+:)[^0-9A-Za-z]*)?"
)
_SECRET_PIECES = tuple(SECRET[i : i + 8] for i in range(len(SECRET) - 7))
# GFM's extended autolinks: a bare URL or www. name in text becomes a link on GitHub.
_AUTOLINK = re.compile(r"(?i)(?:\b(?:https?|ftp)://|\bwww\.)[^\s<]+|[\w.+-]+@[\w-]+\.[\w.-]*\w")
_STACKUP_HTML = frozenset(("<details><summary>Changed fields</summary>", "</details>"))
_STACKUP_FENCES = frozenset(("diff",))
# The top-level blocks `planning.render.render_markdown` makes, one letter each: a heading, the
# summary (or "No changes."), the table, the <details> of changed fields (a bold name and a diff
# fence per operation), then the blocking problems and the warnings (a bold title, a list).
_BLOCK_LETTERS = {
    "heading_open": "H",
    "paragraph_open": "P",
    "table_open": "T",
    "html_block": "D",
    "fence": "F",
    "bullet_list_open": "L",
}
_STACKUP_SHAPE = re.compile(r"HP(?:T(?:D(?:PF)+D)?)?(?:PL)?(?:PL)?")
_TABLE_TOKENS = frozenset(
    f"{part}_{end}" for part in ("thead", "tbody", "tr", "th", "td") for end in ("open", "close")
)
# Inside a list item, stackup makes one paragraph (each item is one escaped line).
_LIST_ITEM_TOKENS = frozenset(
    ("list_item_open", "list_item_close", "paragraph_open", "paragraph_close", "inline")
)


def leaks(text: str) -> bool:
    return any(piece in text for piece in _SECRET_PIECES)


def forged_line(line: str) -> bool:
    head = _LINE_HEAD.match(line)
    return line[head.end() if head else 0 :].startswith(FORGED)


def judge_text(text: str) -> list[str]:
    problems = []
    if leaks(text):
        problems.append("secret")
    if "Traceback (most recent call last)" in text:
        problems.append("traceback")
    if any(forged_line(line) for line in text.splitlines()):
        problems.append("forged-line")
    if _CONTROL.search(text):
        problems.append("control-char")
    return problems


def _gfm_cells(line: str) -> int:
    """The cells GitHub makes of a table row: it splits on every `|` not escaped by a
    backslash, inside backticks too."""
    body = line.strip()
    body = body.removeprefix("|")
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return len(re.split(r"(?<!\\)\|", body))


def judge_markdown(text: str) -> list[str]:
    """What the Markdown renders to that stackup's renderer never makes."""
    from markdown_it import MarkdownIt

    problems: set[str] = set()
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    tokens = md.parse(text)
    lines = text.splitlines()
    shape = "".join(
        _BLOCK_LETTERS.get(t.type, "?")
        for t in tokens
        if t.level == 0 and t.nesting >= 0 and t.type != "inline"
    )
    nested = {t.type for t in tokens if t.level > 0} - _LIST_ITEM_TOKENS - _TABLE_TOKENS
    if not _STACKUP_SHAPE.fullmatch(shape) or nested:
        problems.add("markdown-structure")
    for token in tokens:
        if token.type == "html_block" and any(
            part.strip() and part.strip() not in _STACKUP_HTML
            for part in token.content.splitlines()
        ):
            problems.add("markdown-html")
        if token.type in ("fence", "code_block") and token.info.strip() not in _STACKUP_FENCES:
            problems.add("markdown-fence")
        if token.type == "table_open" and token.map:
            start, end = token.map
            rows = [lines[i] for i in range(start, end) if i != start + 1]
            counts = {_gfm_cells(row) for row in rows}
            if len(counts) > 1:
                problems.add("markdown-table")
        if token.type != "inline":
            continue
        if forged_line(token.content):
            problems.add("forged-line")
        for child in token.children or []:
            if child.type in ("link_open", "autolink_open"):
                problems.add("markdown-link")
            elif child.type == "image":
                problems.add("markdown-image")
            elif child.type == "html_inline":
                problems.add("markdown-html")
            elif child.type == "text" and _AUTOLINK.search(child.content):
                problems.add("markdown-link")
    return sorted(problems)


def judge(run: RunOutput, markdown: bool) -> list[str]:
    problems: list[str] = []
    if run.code is None or run.seconds > RUN_LIMIT:
        problems.append("hang")
    elif run.code == 70:
        problems.append("exit70")
    elif run.code not in (0, 1, 2, 3):
        problems.append(f"exit{run.code}")
    for text in (run.stdout, run.stderr):
        problems.extend(judge_text(text))
    for rel, text in run.files.items():
        found = judge_text(text)
        if os.path.basename(rel) == ".env" and rel not in run.loose_env_files:
            # `import` moves secrets into a private .env: that is where they belong.
            found = [p for p in found if p != "secret"]
        problems.extend(found)
    if markdown and run.code == 0:
        problems.extend(judge_markdown(run.stdout))
    if _BAD_ARGS.search(run.stderr):
        problems.append("bad-args")
    if run.opened_outside:
        problems.append("opened-outside")
    if run.loose_env_files:
        problems.append("env-mode")
    return sorted(set(problems))


# click's words for arguments it does not know: the case did not run as its author meant.
_BAD_ARGS = re.compile(
    r"^Error: (?:No such (?:option|command)|Got unexpected extra argument)", re.M
)
# Files the command line names: the user chose them, so they may be outside the repository.
_PATH_FLAGS = frozenset(("-f", "--file", "--env-file", "--against", "--project-directory"))
# Files an untrusted run must never open, wherever the case is laid out (see `untrusted`).
WATCHED_SYSTEM_FILES = ("/etc/shadow", "/etc/hostname", "/proc/self/environ", "/proc/self/cmdline")


def untrusted(args: tuple[str, ...], env: dict[str, str]) -> bool:
    """Whether stackup runs this in its untrusted mode (issue 26): `--untrusted`,
    STACKUP_UNTRUSTED=1, or a review (`diff --against`, `diff --base`)."""
    flags = {arg.split("=", 1)[0] for arg in args}
    return bool(flags & {"--untrusted", "--against", "--base"}) or env.get(
        "STACKUP_UNTRUSTED", ""
    ) not in ("", "0")


# --- running -----------------------------------------------------------------------------


@dataclass
class RunOutput:
    code: int | None  # None: stopped by the alarm or the watchdog
    seconds: float
    stdout: str = ""
    stderr: str = ""
    files: dict[str, str] = field(default_factory=dict)  # written by the run, by relative path
    # Files an untrusted run opened outside the repository (only for cases under `repo/`).
    opened_outside: tuple[str, ...] = ()
    # `.env` files the run wrote that others may read (import must write them 0600).
    loose_env_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModeResult:
    mode: str
    args: tuple[str, ...]
    code: int | None
    seconds: float
    problems: tuple[str, ...]
    stdout: str  # the first and last few KiB, for messages and focused assertions
    stderr: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class CaseResult:
    name: str
    klass: str
    runs: tuple[ModeResult, ...]

    def problems(self) -> dict[str, tuple[str, ...]]:
        return {run.mode: run.problems for run in self.runs if run.problems}


class _Hung(BaseException):
    """Raised by the alarm; a BaseException so that stackup's `except Exception` lets it by."""


def _excerpt(text: str, size: int = 4096) -> str:
    return text if len(text) <= 2 * size else text[:size] + "\n[...]\n" + text[-size:]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]  # git's own bookkeeping is not output
        for name in names:
            path = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if (st.st_mode & 0o170000) == 0o100000:  # regular files only: never a FIFO
                    out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return out


_OPENED: list[str] = []  # paths opened since the run began, from the audit hook


def _on_audit(event: str, args: tuple[object, ...]) -> None:
    if event in ("open", "os.listdir", "os.scandir") and args and isinstance(args[0], str | bytes):
        _OPENED.append(os.fsdecode(args[0]))


def _outside(opened: list[str], root: Path, repository: Path) -> tuple[str, ...]:
    """The opened paths that resolve outside the repository but inside the case's directory
    (its planted outside files and home), or to a watched system file."""
    out = []
    for path in dict.fromkeys(opened):
        real = os.path.realpath(path)
        inside_case = real == str(root) or real.startswith(str(root) + os.sep)
        in_repository = real == str(repository) or real.startswith(str(repository) + os.sep)
        watched = os.path.normpath(path) in WATCHED_SYSTEM_FILES or real in WATCHED_SYSTEM_FILES
        if (inside_case and not in_repository) or watched:
            out.append(os.path.relpath(real, root) if inside_case else os.path.normpath(path))
    return tuple(out)


def _run_in_process(
    args: tuple[str, ...], root: Path, scratch: Path, repository: Path | None = None
) -> RunOutput:
    """One run of `stackup ARGS` through `stackup.cli.main`, its fds 1 and 2 captured. With a
    `repository`, the files opened outside it are reported."""
    from stackup.cli import main

    before = _snapshot(root)
    out_path, err_path = scratch / "stdout", scratch / "stderr"
    saved = os.dup(1), os.dup(2)
    saved_streams = sys.stdout, sys.stderr, sys.argv
    with open(out_path, "wb") as out_file, open(err_path, "wb") as err_file:
        os.dup2(out_file.fileno(), 1)
        os.dup2(err_file.fileno(), 2)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "wb", closefd=False), "utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "wb", closefd=False), "utf-8", write_through=True)
    sys.argv = ["stackup", *args]

    def on_alarm(signum: int, frame: object) -> None:
        raise _Hung

    signal.signal(signal.SIGALRM, on_alarm)
    _OPENED.clear()
    code: int | None = 0
    start = time.perf_counter()
    try:
        signal.setitimer(signal.ITIMER_REAL, RUN_LIMIT)
        try:
            main()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except _Hung:
        code = None
    except BaseException:
        # What escapes `main()` would end the real process with a traceback.
        with contextlib.suppress(BaseException):
            sys.stderr.write(traceback.format_exc())
        code = 70
    seconds = time.perf_counter() - start
    opened = list(_OPENED)
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    os.close(saved[0])
    os.close(saved[1])
    sys.stdout, sys.stderr, sys.argv = saved_streams
    written = {}
    loose = []
    for rel, stamp in _snapshot(root).items():
        if before.get(rel) != stamp:
            with open(root / rel, "rb") as f:
                written[rel] = f.read(FILE_READ_LIMIT).decode("utf-8", "replace")
            if os.path.basename(rel) == ".env" and os.stat(root / rel).st_mode & 0o077:
                loose.append(rel)
            if rel not in before:
                (root / rel).unlink()  # the next mode starts from the case's own files
    return RunOutput(
        code,
        seconds,
        out_path.read_bytes().decode("utf-8", "replace"),
        err_path.read_bytes().decode("utf-8", "replace"),
        written,
        _outside(opened, root.resolve(), repository.resolve()) if repository else (),
        tuple(loose),
    )


def _limit_memory() -> None:
    import resource

    with open("/proc/self/status") as f:
        vm = next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:")), 0)
    limit = vm + MEMORY_LIMIT
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _child(modes: list[tuple[str, tuple[str, ...]]], root: Path, cwd: Path, fd: int) -> None:
    """Run the modes in order in this process, writing one JSON result line each to `fd`."""
    _limit_memory()
    os.chdir(cwd)
    sys.addaudithook(_on_audit)
    with tempfile.TemporaryDirectory(prefix="hostile-io-") as scratch:
        for label, args in modes:
            # A case laid out under `repo/` has an outside: an untrusted run must not open it.
            watch = cwd != root and untrusted(args, dict(os.environ))
            run = _run_in_process(args, root, Path(scratch), cwd if watch else None)
            named = {os.path.realpath(v) for k, v in itertools.pairwise(args) if k in _PATH_FLAGS}
            run.opened_outside = tuple(
                p for p in run.opened_outside if os.path.realpath(root / p) not in named
            )
            markdown = "markdown" in args and "--format" in args
            result = ModeResult(
                label,
                args,
                run.code,
                run.seconds,
                tuple(judge(run, markdown)),
                _excerpt(run.stdout),
                _excerpt(run.stderr),
                tuple(run.files),
            )
            os.write(fd, (json.dumps(result.__dict__) + "\n").encode())
            if run.code is None:
                return  # an alarm may have left a lock taken: the next mode gets a new process


def _environment(case: Case, root: Path) -> dict[str, str]:
    # The runner's own STACKUP_* settings must not change what a case means.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKUP_")}
    return {**env, **case.env, "NO_COLOR": "1", "HOME": str(root / "home")}


def _start(case: Case, modes: list[tuple[str, tuple[str, ...]]], root: Path) -> tuple[int, int]:
    """A process running `modes`: (pid, the read end of its result pipe)."""
    read, write = os.pipe()
    env = _environment(case, root)
    cwd = cwd_of(case, root)
    if case.subprocess:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.hostile.harness",
                "child",
                str(write),
                str(root),
                str(cwd),
                json.dumps(modes),
            ],
            cwd=ROOT,
            env={**env, "PYTHONPATH": str(ROOT)},
            pass_fds=(write,),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(write)
        return proc.pid, read
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 0
        try:
            os.close(read)
            os.setsid()
            os.environ.clear()
            os.environ.update(env)
            _child(modes, root, cwd, write)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write)
    return pid, read


def _kill(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def run_case(case: Case, stop_after_hang: bool = True) -> CaseResult:
    """Materialise the case in a fresh directory and run it in all its modes. After a hang
    the other modes are not run (they are reported `not-run`): each would likely wait out the
    limit too, and the case fails anyway."""
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        root = Path(tmp)
        (root / "home").mkdir()
        materialise(case, root)
        if not case.args and not (cwd_of(case, root) / BASE_FILE).exists():
            (cwd_of(case, root) / BASE_FILE).write_text(DEFAULT_BASE)
        pending = modes_of(case)
        results: list[ModeResult] = []
        while pending:
            if stop_after_hang and any("hang" in run.problems for run in results):
                results.extend(
                    ModeResult(label, args, None, 0.0, ("not-run",), "", "", ())
                    for label, args in pending
                )
                break
            pid, read = _start(case, pending, root)
            buffer = b""
            deadline = time.monotonic() + RUN_LIMIT + WATCHDOG_GRACE
            stuck = False
            stopped_by_alarm = False  # the child reported a hang and left the rest to a new one
            while True:
                ready, _, _ = select.select([read], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    stuck = True
                    break
                chunk = os.read(read, 1 << 16)
                if not chunk:
                    break
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    data = json.loads(line)
                    data["args"] = tuple(data["args"])
                    data["problems"] = tuple(data["problems"])
                    data["files"] = tuple(data["files"])
                    results.append(ModeResult(**data))
                    stopped_by_alarm = data["code"] is None
                    pending = pending[1:]
                    deadline = time.monotonic() + RUN_LIMIT + WATCHDOG_GRACE
            if stuck:
                _kill(pid)
            os.close(read)
            _, status = os.waitpid(pid, 0)
            if pending and not stopped_by_alarm:
                # Killed by the watchdog, or the process died (a signal, the memory limit in C).
                label, args = pending[0]
                what = "hang" if stuck else f"died (wait status {status})"
                problems = ("hang",) if stuck else ("exit70",)
                results.append(ModeResult(label, args, None, 0.0, problems, "", what, ()))
                pending = pending[1:]
        return CaseResult(case.name, case.klass, tuple(results))


# --- workers: processes that import stackup once and fork a child per case ----------------


def _preload() -> None:
    import importlib

    from stackup.cli import COMMANDS

    for module, _, _ in COMMANDS.values():
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    for module in (
        "stackup.review",
        "stackup.planning.render",
        "stackup.lint.sarif",
        "markdown_it",
    ):
        importlib.import_module(module)


def _send(stream: io.BufferedWriter, payload: object) -> None:
    data = pickle.dumps(payload)
    stream.write(struct.pack(">Q", len(data)) + data)
    stream.flush()


def _receive(stream: io.BufferedReader) -> object:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    (size,) = struct.unpack(">Q", head)
    return pickle.loads(stream.read(size))


def _serve() -> None:
    """A worker: cases in (pickled) on stdin, results out on the original stdout."""
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # stray prints must not corrupt the replies
    _preload()
    while True:
        try:
            case, stop_after_hang = _receive(requests)  # type: ignore[arg-type, misc]
        except EOFError:
            return
        assert isinstance(case, Case)
        try:
            result = run_case(case, stop_after_hang)
        except Exception:  # the harness's own failure (materialising, say): shown, not lost
            failed = ModeResult(
                "harness", case.args, None, 0.0, ("harness-error",), "", traceback.format_exc(), ()
            )
            result = CaseResult(case.name, case.klass, (failed,))
        _send(replies, result)


class Worker:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.hostile.harness", "serve"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def run(self, case: Case, stop_after_hang: bool = True) -> CaseResult:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        _send(self.proc.stdin, (case, stop_after_hang))  # type: ignore[arg-type]
        result = _receive(self.proc.stdout)  # type: ignore[arg-type]
        assert isinstance(result, CaseResult)
        return result

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


# The results of this process's corpus run, by case name (for the terminal summary).
RESULTS: dict[str, CaseResult] = {}


def default_jobs() -> int:
    return int(os.environ.get("STACKUP_HOSTILE_JOBS") or min(os.cpu_count() or 1, 8))


def run_corpus(
    cases: list[Case], jobs: int | None = None, stop_after_hang: bool = True
) -> Iterator[CaseResult]:
    """Every case's result, in the order the cases finish."""
    import queue

    jobs = max(1, min(jobs or default_jobs(), len(cases) or 1))
    workers: queue.Queue[Worker] = queue.Queue()
    for _ in range(jobs):
        workers.put(Worker())

    def one(case: Case) -> CaseResult:
        worker = workers.get()
        try:
            return worker.run(case, stop_after_hang)
        finally:
            workers.put(worker)

    try:
        with ThreadPoolExecutor(jobs) as pool:
            yield from pool.map(one, cases)
    finally:
        while not workers.empty():
            workers.get().close()


def summarise(results: list[CaseResult]) -> list[str]:
    """Per class: cases, runs, and the runs with each problem (controls count as expected)."""
    from collections import Counter, defaultdict

    by_class: dict[str, list[CaseResult]] = defaultdict(list)
    for result in results:
        by_class[result.klass].append(result)
    lines = []
    for klass in sorted(by_class):
        group = by_class[klass]
        problems: Counter[str] = Counter(p for r in group for run in r.runs for p in run.problems)
        failing = sum(1 for r in group if r.problems())
        runs = sum(len(r.runs) for r in group)
        detail = ", ".join(f"{k} {v}" for k, v in sorted(problems.items())) or "clean"
        lines.append(
            f"{klass}: {len(group)} cases, {runs} runs, {failing} cases with problems ({detail})"
        )
    return lines


def _main(argv: list[str]) -> None:
    if argv[1] == "serve":
        _serve()
    elif argv[1] == "child":
        fd, root, cwd, modes = argv[2:6]
        _child([(m, tuple(a)) for m, a in json.loads(modes)], Path(root), Path(cwd), int(fd))


if __name__ == "__main__":
    # Through the module's own name, so what it pickles is `tests.hostile.harness.CaseResult`.
    from tests.hostile import harness

    harness._main(sys.argv)
