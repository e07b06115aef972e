"""A plan is a value: the operations `up` will carry out, each with its reason, the fields it
changes and the engine steps it is made of.

Actions form a closed set with a symbol each, as in Terraform: `+` create, `~` update in place,
`-/+` recreate, `-` remove, `>` start, `↻` reload, `↓` pull, `⚒` build and `↑` push an image, `⇄` sync
files into a container (watch), `⇪` ship the project's files to a remote engine's host. An
operation's `steps` are engine primitives (pull, build, create, start, wait, stop, remove,
rename, connect, ...) run in order by the executor, which decides nothing; `after` names the
operations that must finish first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from enum import StrEnum

from pydantic import JsonValue

from stackup.engine.interface import ContainerSpec, NetworkAttachment, NetworkSpec, VolumeSpec
from stackup.model.parts import Build
from stackup.model.spec import Service


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    RECREATE = "recreate"
    REMOVE = "remove"
    START = "start"
    STOP = "stop"
    RELOAD = "reload"
    CONNECT = "connect"
    RENAME = "rename"
    PULL = "pull"
    BUILD = "build"
    SYNC = "sync"
    PUSH = "push"
    SHIP = "ship"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.RECREATE: "-/+",
    Action.REMOVE: "-",
    Action.START: ">",
    Action.STOP: "■",
    Action.RELOAD: "↻",
    Action.CONNECT: "~",
    Action.RENAME: "~",
    Action.PULL: "↓",
    Action.BUILD: "⚒",
    Action.SYNC: "⇄",
    Action.PUSH: "↑",
    Action.SHIP: "⇪",
}


class Kind(StrEnum):
    CONTAINER = "container"
    NETWORK = "network"
    VOLUME = "volume"
    # The swarm target's resources (stackup.targets.swarm.plan).
    SERVICE = "service"
    CONFIG = "config"
    SECRET = "secret"
    IMAGE = "image"
    # The project's files shipped to a remote engine's host (stackup.planning.shipping).
    FILES = "files"


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str
    before: JsonValue
    after: JsonValue


# ----------------------------------------------------------------------------- steps


@dataclass(frozen=True, slots=True)
class CreateNetwork:
    spec: NetworkSpec


@dataclass(frozen=True, slots=True)
class RemoveNetwork:
    name: str


@dataclass(frozen=True, slots=True)
class CreateVolume:
    spec: VolumeSpec


@dataclass(frozen=True, slots=True)
class RemoveVolume:
    name: str


@dataclass(frozen=True, slots=True)
class PullImage:
    """Pull `image` from its registry (per-layer progress is reported as it comes)."""

    image: str


@dataclass(frozen=True, slots=True)
class BuildImage:
    """Build `service`'s image from its `build:` section and tag it `tag`; the build output is
    reported line by line."""

    service: str
    tag: str
    build: Build


@dataclass(frozen=True, slots=True)
class CreateContainer:
    spec: ContainerSpec


@dataclass(frozen=True, slots=True)
class RemoveEmptyDirectories:
    """Remove each of these host directories that is (still) empty: the missing bind sources
    the engine created for a container that then failed (`stackup.planning.bindsources`)."""

    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StartContainer:
    name: str


@dataclass(frozen=True, slots=True)
class StopContainer:
    name: str
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class RemoveContainer:
    name: str
    volumes: bool = False


@dataclass(frozen=True, slots=True)
class RenameContainer:
    name: str
    new_name: str


@dataclass(frozen=True, slots=True)
class UpdateContainer:
    name: str
    service: Service


@dataclass(frozen=True, slots=True)
class Connect:
    container: str
    attachment: NetworkAttachment


@dataclass(frozen=True, slots=True)
class Disconnect:
    container: str
    network: str


@dataclass(frozen=True, slots=True)
class WaitFor:
    """Block until `containers` of `service` meet `condition`: a depends_on condition, or
    `service_ready` (healthy when the container has a healthcheck, else running: a rollout's
    gate). `timeout` (a rollout's `monitor`) replaces the apply's wait timeout."""

    service: str
    containers: tuple[str, ...]
    condition: str
    required: bool = True
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Sleep:
    """A pause the plan asks for: `deploy.update_config.delay` between batches, or `monitor`
    for a container without a healthcheck (it must still be running afterwards)."""

    seconds: float
    why: str


@dataclass(frozen=True, slots=True)
class Signal:
    container: str
    signal: str
    # A reload that is done only once a new generation of workers serves (nginx's HUP returns
    # before it is): the step waits for it in the container's process list, and fails naming
    # the container when it is not seen (stackup.targets.engine.reloaded).
    confirm: bool = False


@dataclass(frozen=True, slots=True)
class Exec:
    container: str
    command: tuple[str, ...]
    purpose: str  # "validate", "reload", "exec" or "post_start": a failure stops the operation
    user: str | None = None
    working_dir: str | None = None
    environment: tuple[str, ...] = ()  # KEY=VALUE
    privileged: bool = False
    confirm: bool = False  # a reload command: as `Signal.confirm`


@dataclass(frozen=True, slots=True)
class CopyFiles:
    """Extract `archive` (a tar of `files` files, paths relative to `/`) into a running
    container: develop.watch's sync."""

    container: str
    archive: bytes
    files: int


@dataclass(frozen=True, slots=True)
class ShipFiles:
    """Write files into `directory` on the engine's host, through the engine (a helper
    container: stackup.planning.shipping): `files` are (path here, path under `directory`),
    read when the step runs; `contents` are (path under `directory`, bytes). Each path of
    `replace` is removed first, with all it holds. `mode`: of the files there (a secret's
    0400); None keeps each file's mode here."""

    directory: str
    files: tuple[tuple[str, str], ...] = ()
    contents: tuple[tuple[str, bytes], ...] = ()
    replace: tuple[str, ...] = ()
    mode: int | None = None


@dataclass(frozen=True, slots=True)
class RewriteInPlace:
    """Rewrite the file `target` on the engine's host with the content of `source` (a path
    here), keeping its inode (a container that bind-mounts the file on its own is pinned to
    its inode), through a throwaway container of `image` (one the engine has: the image of a
    container that mounts the file) that bind-mounts it writable."""

    project: str
    image: str
    target: str
    source: str


@dataclass(frozen=True, slots=True)
class RemoveOnHost:
    """Remove the files `paths` (relative to `directory`) on the engine's host, through a
    throwaway container of `image` that bind-mounts `directory` writable: the directory stays
    the one the running containers mount."""

    project: str
    image: str
    directory: str
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CheckInThrowaway:
    """Run `spec` (its command: a validation such as `nginx -t`, or a `pre_start` step) in a
    throwaway container and fail the operation when it exits non-zero."""

    spec: ContainerSpec
    purpose: str = "validate"
    # A validation is quick; a `pre_start` step (a migration) runs as long as it needs.
    timeout_s: float | None = 60.0


@dataclass(frozen=True, slots=True)
class FileState:
    """What a config file on the host was when a container applied it
    (`stackup.planning.configstate`)."""

    digest: str  # sha256 of the content (a directory: of its files' paths and digests)
    inode: int | None = None  # a single file's inode; None for a directory

    def to_json(self) -> dict[str, JsonValue]:
        return {"digest": self.digest, "inode": self.inode}

    @staticmethod
    def from_json(value: object) -> FileState | None:
        if not isinstance(value, dict) or not isinstance(value.get("digest"), str):
            return None
        inode = value.get("inode")
        return FileState(value["digest"], inode if isinstance(inode, int) else None)


@dataclass(frozen=True, slots=True)
class RecordApplied:
    """Last in a reload operation: record what the container now runs, as the file
    `container_id`.json under `store` (`stackup.targets.engine.configfiles.write_record`)."""

    store: str
    container_id: str
    files: tuple[tuple[str, FileState], ...]


class TargetStep:
    """The base of the steps another target defines (the swarm's: stackup.targets.swarm.steps).
    Data like every step: the plan runner hands every step to the interpreter of the target
    the plan is for (`stackup.runner.StepInterpreter`)."""

    __slots__ = ()


Step = (
    CreateNetwork
    | RemoveNetwork
    | CreateVolume
    | RemoveVolume
    | PullImage
    | BuildImage
    | CreateContainer
    | StartContainer
    | StopContainer
    | RemoveContainer
    | RemoveEmptyDirectories
    | RenameContainer
    | UpdateContainer
    | Connect
    | Disconnect
    | WaitFor
    | Sleep
    | Signal
    | Exec
    | CopyFiles
    | ShipFiles
    | RewriteInPlace
    | RemoveOnHost
    | CheckInThrowaway
    | RecordApplied
    | TargetStep
)


# ----------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Operation:
    id: str  # unique in the plan, e.g. "container:demo-web-1"
    action: Action
    kind: Kind
    name: str  # the engine's name of the resource
    reason: str
    service: str | None = None
    fields: tuple[FieldChange, ...] = ()
    destroys_data: bool = False
    steps: tuple[Step, ...] = ()
    after: tuple[str, ...] = ()  # operations that must finish before this one begins
    # Operations that must finish before steps[gate:] run (a container is created early and
    # started only once its dependencies are); empty, or gate 0, means none.
    start_after: tuple[str, ...] = ()
    gate: int = 0
    # Steps run instead of the rest when a parked operation is abandoned (its dependency
    # failed, or Ctrl-C): e.g. removing a replacement container created under a temporary name.
    abandon: tuple[Step, ...] = ()
    # Steps run when one of steps[restore_from:restore_to] fails, before the operation is
    # reported failed: a recreate whose new container cannot start (its port is taken, a
    # dependency never got ready) removes it and starts the old one again, which it only
    # stopped so far. Empty: a failure leaves things as they are.
    restore: tuple[Step, ...] = ()
    restore_from: int = 0
    restore_to: int = 0
    # Further restore steps, run only when the failing step is at or after restore_late_from:
    # a start-first rollout reloads its dependents again only if they were reloaded with the
    # new addresses; a failure before that leaves them untouched (no needless reload).
    restore_late: tuple[Step, ...] = ()
    restore_late_from: int = 0
    details: tuple[str, ...] = ()  # extra lines shown under the operation
    # Order only: run after these have ended, whether they succeeded or not
    # (`update_config.failure_action: continue` between batches of a rollout).
    follows: tuple[str, ...] = ()
    adopts: str | None = None  # `up --adopt`: the unmanaged container this one replaces


@dataclass(frozen=True)
class Plan:
    project: str
    operations: tuple[Operation, ...] = ()
    warnings: tuple[str, ...] = ()
    blockers: tuple[str, ...] = ()  # what makes `up` refuse before it starts anything
    fingerprint: str = ""  # of the observed state the plan was computed from
    services: tuple[str, ...] = field(default=())  # the services the plan was made for

    @property
    def changes(self) -> bool:
        return bool(self.operations)

    @property
    def destroys_data(self) -> tuple[Operation, ...]:
        return tuple(op for op in self.operations if op.destroys_data)

    @property
    def adoptions(self) -> tuple[Operation, ...]:
        """Operations that replace a container stackup did not make (`up --adopt`)."""
        return tuple(op for op in self.operations if op.adopts)

    def summary(self) -> dict[str, int]:
        counts = Counter(op.action.value for op in self.operations)
        return {
            "create": counts["create"],
            "update": counts["update"] + counts["connect"] + counts["rename"],
            "recreate": counts["recreate"],
            "remove": counts["remove"],
            "start": counts["start"],
            "stop": counts["stop"],
            "reload": counts["reload"],
            "pull": counts["pull"],
            "build": counts["build"],
            "sync": counts["sync"],
            "push": counts["push"],
            "ship": counts["ship"],
        }


def steps_first(op: Operation, steps: tuple[Step, ...]) -> Operation:
    """`op` with `steps` run before its own; the step indexes it holds (its gate, its restore
    range) move with its steps."""
    n = len(steps)
    if not n:
        return op
    return replace(
        op,
        steps=(*steps, *op.steps),
        gate=op.gate + n if op.gate else 0,
        restore_from=op.restore_from + n if op.restore else op.restore_from,
        restore_to=op.restore_to + n if op.restore else op.restore_to,
        restore_late_from=op.restore_late_from + n if op.restore_late else op.restore_late_from,
    )
