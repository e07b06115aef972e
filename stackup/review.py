"""Code review without an engine: the plan that a change of the stack file would make on a
project running the base revision.

The base stack is applied to an in-memory engine (the same executor `up` uses), then the new
stack is planned against that engine. Image tags resolve to a stand-in ID derived from the tag,
so a moved tag shows as a changed `image` field rather than as a rebuilt image.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import posixpath
import re
import subprocess
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from pydantic import JsonValue

from stackup.engine.fake import FakeEngine
from stackup.errors import PlanError, StackFileError
from stackup.gcpause import collector_paused
from stackup.loading.loader import LoadedStack
from stackup.planning import salt as salt_policy
from stackup.planning.desired import image_ref, read_file_objects
from stackup.planning.graph import build_graph
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import FieldChange, Plan
from stackup.planning.reconcile import reconcile
from stackup.targets.engine.execute import ExecuteOptions, execute


def plan_between(
    base: LoadedStack,
    head: LoadedStack,
    options: ReconcileOptions | None = None,
    base_reader: Callable[[Path], str] | None = None,
) -> Plan:
    """The plan from `base` to `head`; `base_reader` reads the base's secret and config files
    (from git for `--base`), so a change of their content shows as it would on an engine."""
    # Both sides share one salt, so only real changes show; a fresh one each run unless one is
    # given (stackup.planning.salt, rule 3: the Markdown goes into pull-request comments).
    salt = salt_policy.choose(
        given=options.salt if options is not None else salt_policy.UNSET, fallback=salt_policy.fresh
    )
    # Images are the engine's business, not a revision's: a review plans no pulls or builds.
    options = dataclasses.replace(options or ReconcileOptions(), salt=salt, pull=None)
    with collector_paused():  # stackup.gcpause: linear in the stacks' size
        plan = _plan_between(base, head, options, base_reader)
    return changed_not_digests(plan)


# `labels.sensitive_digest`'s text: a review keys it with a salt of its own run, so the digest
# itself differs from run to run and says nothing a reader can use.
_DIGEST = re.compile(r"\(sensitive sha256:[0-9a-f]{16}\)")


def changed_not_digests(plan: Plan) -> Plan:
    """The plan with each sensitive digest in its changed fields said as `(sensitive)` before
    and `(sensitive, changed)` or `(sensitive, unchanged)` after: the same text from run to
    run, so a bot that compares pull-request comments sees a change only when there is one."""

    def said(value: JsonValue, replace: Callable[[re.Match[str]], str]) -> JsonValue:
        if isinstance(value, str):
            return _DIGEST.sub(replace, value)
        if isinstance(value, list):
            return [said(v, replace) for v in value]
        if isinstance(value, dict):
            return {k: said(v, replace) for k, v in value.items()}
        return value

    def found(value: JsonValue) -> set[str]:
        return set(_DIGEST.findall(json.dumps(value)))

    def field(change: FieldChange) -> FieldChange:
        before = found(change.before)
        after = said(
            change.after,
            lambda m: "(sensitive, unchanged)" if m.group(0) in before else "(sensitive, changed)",
        )
        return FieldChange(change.path, said(change.before, lambda m: "(sensitive)"), after)

    operations = tuple(
        dataclasses.replace(op, fields=tuple(field(f) for f in op.fields)) if op.fields else op
        for op in plan.operations
    )
    return dataclasses.replace(plan, operations=operations)


def _plan_between(
    base: LoadedStack,
    head: LoadedStack,
    options: ReconcileOptions,
    base_reader: Callable[[Path], str] | None,
) -> Plan:
    engine = FakeEngine()
    for loaded in (base, head):
        for name in loaded.stack.services:
            ref = image_ref(loaded.stack, name)
            engine.set_image(ref, "sha256:" + hashlib.sha256(ref.encode()).hexdigest())
    base_stack = base.stack.model_copy(update={"name": head.stack.name})
    base_graph = build_graph(base_stack, base.source)
    read = (lambda path: base_reader(path).encode()) if base_reader is not None else None
    base_options = dataclasses.replace(
        options, file_objects=read_file_objects(base.stack, read=read)
    )
    base_plan = reconcile(base_stack, base_graph, engine.observe(head.stack.name), base_options)
    outcome = execute(base_plan, engine, options=ExecuteOptions(inline=True))
    if outcome.failed:
        raise PlanError(f"could not model the base revision: {outcome.failed}")
    head_graph = build_graph(head.stack, head.source)
    head_options = dataclasses.replace(options, file_objects=read_file_objects(head.stack))
    return reconcile(head.stack, head_graph, engine.observe(head.stack.name), head_options)


def git_reader(rev: str, cwd: Path, *, follow_links: bool = True) -> Callable[[Path], str]:
    """A `read_text` for the loader that reads files as they were at `rev` in git (see
    `GitRevision`)."""
    return GitRevision(rev, cwd, follow_links=follow_links).read


class GitRevision:
    """The files of a git revision, for the loader: `read` is its `read_text`, `resolve` its
    `resolve_links` (untrusted). A symbolic link committed at the revision is followed inside
    the repository and refused when it leads out of it: git stores the link's target, never
    the file. Without `follow_links` (the untrusted mode) paths are placed in the repository by
    their text, never through the working tree's links."""

    def __init__(self, rev: str, cwd: Path, *, follow_links: bool = True) -> None:
        from stackup.errors import UsageError

        try:
            top = subprocess.run(
                ["git", "rev-parse", "--show-toplevel"],
                cwd=cwd,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            subprocess.run(
                ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
                cwd=cwd,
                capture_output=True,
                check=True,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            raise UsageError(
                f"cannot read revision {rev!r} with git",
                hint="run inside a git checkout, and fetch the base branch first (e.g. `git fetch origin main`)",
            ) from exc
        self.rev = rev
        self.root = Path(top).resolve()
        self.follow_links = follow_links
        self._followed: dict[PurePosixPath, PurePosixPath | None] = {}  # asked more than once

    def _place(self, path: Path) -> PurePosixPath:
        from stackup.errors import UsageError

        where = Path(path).resolve() if self.follow_links else Path(os.path.normpath(path))
        try:
            return PurePosixPath(where.relative_to(self.root).as_posix())
        except ValueError:
            raise UsageError(
                f"{path} is outside the git repository {self.root}, so it has no revision "
                f"{self.rev!r}",
                hint="--base reads the stack files from git; pass files inside the repository",
            ) from None

    def _follow(self, rel: PurePosixPath) -> PurePosixPath | None:
        """`rel` through the links committed at the revision; None if one leads out."""
        if rel not in self._followed:
            self._followed[rel] = self._follow_links(rel)
        return self._followed[rel]

    def _follow_links(self, rel: PurePosixPath) -> PurePosixPath | None:
        for _ in range(_MAX_LINKS):
            if rel == PurePosixPath("."):
                return rel
            listed = subprocess.run(
                ["git", "ls-tree", "-z", "--full-tree", self.rev, "--", rel.as_posix()],
                cwd=self.root,
                capture_output=True,
                check=False,
            ).stdout
            # One entry, `<mode> <type> <object>\t<path>`, when `rel` is a file or a link (a
            # directory lists what it holds).
            head, _, name = listed.rstrip(b"\0").partition(b"\t")
            if not head.startswith(_SYMLINK_MODE) or name != rel.as_posix().encode():
                return rel
            target = _show(self.root, self.rev, rel)
            # A link's target, relative to its directory, kept in the repository by its text.
            joined = posixpath.normpath(posixpath.join(rel.parent.as_posix(), target))
            if posixpath.isabs(target) or joined == ".." or joined.startswith("../"):
                return None
            rel = PurePosixPath(joined)
        return None

    def resolve(self, path: Path) -> Path | None:
        """Where `path` leads at the revision, or None when a committed link leads out of the
        repository (the host-path policy's `links`)."""
        followed = self._follow(self._place(path))
        return None if followed is None else self.root / followed

    def read(self, path: Path) -> str:
        rel = self._place(path)
        followed = self._follow(rel)
        if followed is None:
            raise StackFileError(
                f"{rel} is a symbolic link out of the repository at {self.rev}; it is not followed"
            )
        return _show(self.root, self.rev, followed)


_SYMLINK_MODE = b"120000 "
_MAX_LINKS = 40


def _show(root: Path, rev: str, rel: PurePosixPath) -> str:
    result = subprocess.run(
        ["git", "show", f"{rev}:{rel.as_posix()}"], cwd=root, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise FileNotFoundError(f"{rel} does not exist at {rev}")
    return result.stdout.decode("utf-8")
