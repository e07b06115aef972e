"""`stackup history` and `stackup rollback`: the releases on the engine
(stackup.usecases.releases), and the way back to one of them, planned and applied like any
`up` (`stackup.usecases.deploy.converge`: the same plan rendering, questions, runner and
record).

A rollback plans the release's resolved stack with its images pinned: a service whose image
tag now names another image runs the release's image by ID; an image the engine no longer has
refuses the rollback, named. Secret values are not in the record (only digests): each is taken
from the stack file now when its digest matches, else the rollback is refused naming it.
Named volumes keep what they hold now, and the plan says so. On a remote engine the project's
files come back from the record and are shipped as an `up` ships them; on an engine on this
machine the files are the user's own: never written, the ones that differ are listed.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stackup.engine.interface import ReleaseEngine
from stackup.errors import PlanError
from stackup.loading.loader import LoadedStack
from stackup.loading.source import SourceMap
from stackup.model.spec import Stack
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import Plan
from stackup.targets.engine import shipping as ship_facts
from stackup.targets.engine.lock import project_lock
from stackup.targets.engine.preflight import engine_is_local
from stackup.targets.target import Applied
from stackup.usecases import releases
from stackup.usecases.deploy import Recording, UpRequest, UpUI, converge
from stackup.usecases.releases import Release
from stackup.usecases.targets import AnyTarget, as_target

VOLUMES_NOTE = (
    "rollback restores containers, networks and the project's files, never the data in named "
    "volumes: they keep what they hold now"
)
SHOWN_FILES = 20
_MASKED = "(sensitive sha256:"


def history(project: str, target: AnyTarget) -> tuple[Release, ...]:
    """The project's releases on the target's engine, newest first (no lock: a read)."""
    return releases.releases(releases.require_store(as_target(target), "history"), project)


@dataclass(frozen=True)
class RollbackRequest:
    release: int | None = None  # None: the release before the newest
    dry_run: bool = False
    parallel: int = 32
    wait_timeout: float = 300.0
    wait_lock: bool = True
    # Apply only if planning now gives exactly this plan (`diff --format json`'s JSON of a
    # dry run shown before, as `up --plan` does): the page's Rollback applies what it showed.
    saved_plan: Mapping[str, object] | None = None
    saved_plan_file: str = "the saved file"  # named in the refusal


def rollback(
    project: str,
    loaded: LoadedStack | None,
    target: AnyTarget,
    request: RollbackRequest,
    ui: UpUI,
    cancel: threading.Event | None = None,
) -> Applied:
    """Plan the way back to a release, show it, ask (data loss, as `up`), apply it and record
    it as a release of its own. `loaded`: the stack file now, if at hand (the secret values a
    release needs are taken from it)."""
    chosen = as_target(target)
    store = releases.require_store(chosen, "rollback")
    with project_lock(chosen.lock_engine(), project, wait=request.wait_lock, on_wait=ui.lock_wait):
        release = _chosen(releases.releases(store, project), project, request.release)
        data = releases.read_record(store, release)
        content, files = releases.stored_content(store, release, data)
        stack = _restored_stack(data, release, loaded, store)
        origin = content.project_directory
        with tempfile.TemporaryDirectory(prefix="stackup-rollback-") as scratch:
            notes = [VOLUMES_NOTE]
            directory = origin
            if not engine_is_local(store):
                # The engine's host gets the release's files: written here (privately), then
                # shipped as any `up` ships a project's files.
                notes += _materialize(content, files, scratch)
                stack = _moved(stack, origin, scratch)
                directory = scratch
                content = replace(content, files_root=Path(scratch))
            else:
                notes += _differing(content, release)
            at_release = LoadedStack(
                stack=stack,
                source=SourceMap(),
                files=loaded.files if loaded is not None else (),
                project_directory=Path(directory),
            )

            def amend(plan: Plan) -> Plan:
                return replace(plan, warnings=(*plan.warnings, *notes))

            up_request = UpRequest(
                options=ReconcileOptions(),
                dry_run=request.dry_run,
                parallel=request.parallel,
                wait_timeout=request.wait_timeout,
                saved_plan=request.saved_plan,
                saved_plan_file=request.saved_plan_file,
            )
            git = (release.commit, release.dirty)
            return converge(
                at_release,
                chosen,
                up_request,
                ui,
                cancel,
                amend=amend,
                recording=Recording("rollback", release.number, content, git),
            )


def _chosen(known: tuple[Release, ...], project: str, number: int | None) -> Release:
    if not known:
        raise PlanError(
            f"project {project} has no releases on this engine; nothing was applied",
            hint="each `stackup up` that changes something records one (`stackup history`)",
        )
    if number is None:
        if len(known) < 2:
            raise PlanError(
                f"project {project} has only release {known[0].number}: nothing before it to "
                "roll back to; nothing was applied"
            )
        return known[1]
    for release in known:
        if release.number == number:
            return release
    listed = ", ".join(str(r.number) for r in known)
    raise PlanError(
        f"project {project} has no release {number} on this engine (it has {listed}); "
        "nothing was applied",
        hint="`stackup history` lists them",
    )


def _restored_stack(
    data: Mapping[str, Any], release: Release, loaded: LoadedStack | None, store: ReleaseEngine
) -> Stack:
    """The release's stack: secret values put back from the stack file now where their
    digests match, images pinned to the release's image IDs."""
    stored = data["stack"]
    salt = str(data["salt"])
    missing: list[str] = []
    restored: set[str] = set()
    current: dict[str, Any] | None = None
    masked: dict[str, Any] | None = None
    if loaded is not None:
        current = loaded.stack.model_dump(mode="json", by_alias=True)
        masked = releases.masked_stack(loaded, salt)
    document = _unmasked(stored, current, masked, "", missing, restored)
    if missing:
        raise PlanError(
            f"release {release.number} ran with secret values that are not stored (only their "
            f"digests are) and that differ from the stack file now: {', '.join(missing)}; "
            "nothing was applied",
            hint="set them as they were at that release (in the file or its environment), "
            "then roll back again",
        )
    services = document.get("services") or {}
    for name, image in sorted((data.get("images") or {}).items()):
        service = services.get(name)
        if not isinstance(service, dict) or not isinstance(image, dict):
            continue
        ref, image_id = str(image.get("image")), str(image.get("id"))
        if store.image_id(image_id) is None:
            raise PlanError(
                f"release {release.number}: the image {ref} ({image_id[:19]}) of service "
                f"{name} is gone from the engine; nothing was applied",
                hint="load or build that image on the engine again, or roll back to another "
                "release",
            )
        if store.image_id(ref) != image_id:
            service["image"] = image_id  # the tag moved: the release's image, by its ID
        # Never built or pulled: the image is the release's, which the engine has.
        service["build"] = None
        service["pull_policy"] = "never"
    stack = Stack.model_validate(document)
    if loaded is not None:
        stack.mark_tainted(loaded.stack.tainted, frozenset(loaded.stack.secret_values | restored))
    elif restored:
        stack.mark_tainted(frozenset(), frozenset(restored))
    return stack


def _unmasked(
    stored: Any, current: Any, masked: Any, path: str, missing: list[str], restored: set[str]
) -> Any:
    """`stored` with each masked value replaced by the value at the same place in `current`
    whose mask (`masked`, with the release's salt) is the same; the others' paths in
    `missing`."""
    if isinstance(stored, str):
        if not stored.startswith(_MASKED):
            return stored
        if isinstance(current, str) and masked == stored:
            restored.add(current)
            return current
        missing.append(path)
        return stored
    if isinstance(stored, dict):
        return {
            key: _unmasked(
                value,
                current.get(key) if isinstance(current, dict) else None,
                masked.get(key) if isinstance(masked, dict) else None,
                f"{path}.{key}" if path else str(key),
                missing,
                restored,
            )
            for key, value in stored.items()
        }
    if isinstance(stored, list):
        return [
            _unmasked(
                value,
                current[i] if isinstance(current, list) and i < len(current) else None,
                masked[i] if isinstance(masked, list) and i < len(masked) else None,
                f"{path}[{i}]",
                missing,
                restored,
            )
            for i, value in enumerate(stored)
        ]
    return stored


def _materialize(content: releases.Content, files: Mapping[str, bytes], scratch: str) -> list[str]:
    """Write the release's files under `scratch` (a private directory); a note for the files
    its manifest lists that the records do not hold."""
    for path, body in files.items():
        target = Path(scratch, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    absent = [
        _shown(relative, path)
        for relative, files in sorted(content.manifest.items())
        for path in sorted(files)
        if releases.in_project(relative, path) not in files
    ]
    if not absent:
        return []
    return [
        f"the record of this release lacks {len(absent)} of its files (they could not be read "
        f"when it was made): {', '.join(absent[:SHOWN_FILES])}"
    ]


def _shown(relative: str, path: str) -> str:
    return "./" + releases.in_project(relative, path)


def _moved(stack: Stack, origin: str, scratch: str) -> Stack:
    """The stack with its files inside `origin` (bind sources, secrets' and configs' files)
    read from `scratch` instead: the same paths relative to the project."""

    def moved(path: str | None) -> str | None:
        if path is None:
            return None
        relative = os.path.relpath(path, origin)
        if relative == "." or (not relative.startswith("..") and not os.path.isabs(relative)):
            return os.path.normpath(os.path.join(scratch, relative))
        return path

    services = {
        name: service.model_copy(
            update={
                "volumes": [
                    v.model_copy(update={"source": moved(v.source)})
                    if v.type == "bind" and v.source
                    else v
                    for v in service.volumes
                ]
            }
        )
        for name, service in stack.services.items()
    }
    tables = {
        kind: {
            key: obj.model_copy(update={"file": moved(obj.file)}) if obj.file else obj
            for key, obj in getattr(stack, kind).items()
        }
        for kind in ("secrets", "configs")
    }
    moved_stack = stack.model_copy(update={"services": services, **tables})
    moved_stack.mark_tainted(stack.tainted, stack.secret_values)
    return moved_stack


def _differing(content: releases.Content, release: Release) -> list[str]:
    """On an engine on this machine: the bind-mounted files here that differ from the
    release's (rollback never writes them; the containers mount them as they are)."""
    found: list[str] = []
    for relative, files in sorted(content.manifest.items()):
        project = Path(content.project_directory)
        local = ship_facts.local_files(project / relative, project).files or {}
        for path in sorted(set(files) | set(local)):
            was, now = files.get(path), local.get(path)
            if now is None:
                found.append(f"{_shown(relative, path)} (missing)")
            elif was is None:
                found.append(f"{_shown(relative, path)} (added since)")
            elif was.get("sha256") != now.digest:
                found.append(f"{_shown(relative, path)} (changed)")
    if not found:
        return []
    more = f" and {len(found) - SHOWN_FILES} more" if len(found) > SHOWN_FILES else ""
    return [
        f"rollback does not write your working files; {len(found)} bind-mounted file(s) here "
        f"differ from release {release.number} and are served as they are now: "
        f"{', '.join(found[:SHOWN_FILES])}{more}"
    ]
