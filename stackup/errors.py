"""The error tree. Every error stackup raises for a user's mistake or the engine's refusal
derives from `StackupError`; the CLI prints it as one line (plus a hint) and exits 1, and
never shows a traceback for it.

    StackupError
    ├── StackFileError          the stack file is wrong (YAML, schema, interpolation, include)
    │   ├── YamlSyntaxError
    │   ├── SpecValidationError  a value the models refuse; carries the dotted path
    │   │   └── StackFileProblems  several of them, found in one pass, all reported
    │   ├── InterpolationError   ${VAR:?msg} unset, bad ${...} syntax
    │   └── ReferenceCycleError  extends / include cycles
    ├── DependencyCycleError    depends_on / network_mode / volumes_from cycle (graph)
    ├── UsageError              a command-line mistake (unknown service, bad flag value)
    ├── EngineError             the Docker engine refused or is unreachable
    │   └── EngineUnavailableError
    ├── PlanError               a saved plan is stale or cannot be applied as it stands
    │   └── StalePlanError       the saved plan is not the plan now (engine or files changed)
    ├── LockError               another stackup holds the project's lock
    └── ApplyError              an operation failed while applying a plan

Location fields (`file`, `line`, `column`, 1-based) and `path` (dotted, as in
`services.web.ports[0]`) are filled in wherever they are known. `reports()` gives the lines a
user reads: one for most errors, one per problem for `StackFileProblems`.

An error names the place and what was expected. Its text is redacted when shown
(`stackup.model.sensitive.redact_text`): the values the secret table recognises, and those the
loader knows came from secret variables (`conceal`), never appear, so an error site that quotes
a value is safe by default; quoting is kept only for what is known not to be secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

PathElement = str | int


def dotted(path: Sequence[PathElement]) -> str:
    """Render a path as users read it: `services.web.ports[0]`."""
    out = ""
    for element in path:
        if isinstance(element, int):
            out += f"[{element}]"
        else:
            out += ("." if out else "") + str(element)
    return out


class StackupError(Exception):
    """Root of every error stackup reports to a user."""

    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: Sequence[PathElement] | str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.path = path if isinstance(path, str) or path is None else dotted(path)
        self.hint = hint
        self.concealed: frozenset[str] = frozenset()

    def conceal(self, secrets: Iterable[str]) -> None:
        """Never show any of `secrets` (values built from secret variables) in this error."""
        self.concealed = self.concealed | frozenset(secrets)

    @property
    def location(self) -> str:
        """`file:line:col`, or as much of it as is known."""
        if self.file is None:
            return ""
        out = self.file
        if self.line is not None:
            out += f":{self.line}"
            if self.column is not None:
                out += f":{self.column}"
        return out

    def __str__(self) -> str:
        # Paths, keys and values in an error come from the user's files: each part is shown
        # on one line with its controls escaped, so that none forges a line or a colour; known
        # secret values are concealed first.
        from stackup.escape import terminal
        from stackup.model.sensitive import redact_text

        parts = [p for p in (self.location, self.path) if p]
        head = terminal(redact_text(": ".join([*parts, self.message]), self.concealed))
        return head + self._body() + self._hint_line()

    def _body(self) -> str:
        """Lines shown between the message and its hint (none here)."""
        return ""

    def _hint_line(self) -> str:
        from stackup.escape import terminal
        from stackup.model.sensitive import redact_text

        if not self.hint:
            return ""
        return f"\n  hint: {terminal(redact_text(self.hint, self.concealed))}"

    def reports(self) -> list[str]:
        """What the CLI prints, one entry per problem (each may carry a hint line)."""
        return [str(self)]


class StackFileError(StackupError):
    """The stack file cannot be read as a valid stack."""


class YamlSyntaxError(StackFileError):
    pass


class SpecValidationError(StackFileError):
    pass


MAX_REPORTED = 50


class StackFileProblems(SpecValidationError):
    """Every problem one validation pass found, in file order. The error's own location,
    path and message are the first problem's, so code that reads a single error still works;
    a user fixing the file sees them all at once instead of one per run."""

    def __init__(self, problems: Sequence[StackupError]) -> None:
        first = problems[0]
        super().__init__(
            first.message,
            file=first.file,
            line=first.line,
            column=first.column,
            path=first.path,
            hint=first.hint,
        )
        self.problems = tuple(problems)

    def conceal(self, secrets: Iterable[str]) -> None:
        super().conceal(secrets)
        for problem in self.problems:
            problem.conceal(secrets)

    def reports(self) -> list[str]:
        shown = [str(p) for p in self.problems[:MAX_REPORTED]]
        hidden = len(self.problems) - len(shown)
        if hidden:
            # A cap keeps a wholly wrong file (a config of another tool) readable.
            shown.append(f"and {hidden} more problem{'s' if hidden > 1 else ''} in the stack file")
        return shown

    def __str__(self) -> str:
        return "\n".join(self.reports())


class InterpolationError(StackFileError):
    pass


class ReferenceCycleError(StackFileError):
    pass


class DependencyCycleError(StackupError):
    pass


class UsageError(StackupError):
    pass


class EngineError(StackupError):
    pass


class EngineUnavailableError(EngineError):
    pass


class PlanError(StackupError):
    pass


class StalePlanError(PlanError):
    """A saved plan (`up --plan`, the page's Apply and Rollback) is not the plan made now:
    the engine's state or the stack changed since. Told apart from the other refusals so a
    caller can say "stale" (the page answers 409) only when it is."""


class LockError(StackupError):
    pass


class ApplyError(StackupError):
    """An operation failed while it was applied. `output` is what a program printed (a
    failed `nginx -t`, a throwaway check): it is kept line by line under the message, each
    line escaped and indented, so nginx's `file:line` errors can be read back and no line of
    it can pass for one of stackup's."""

    def __init__(self, message: str, *, output: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.output = output.strip()

    def _body(self) -> str:
        from stackup.escape import terminal
        from stackup.model.sensitive import redact_text

        if not self.output:
            return ""
        lines = redact_text(self.output, self.concealed).splitlines()
        return ":" + "".join(f"\n    {terminal(line)}" for line in lines if line.strip())
