"""Label names stackup puts on every resource it creates, and the canonical spec behind them.

The applied spec is stored on the resource itself (`io.stackup.spec`, canonical JSON with
sorted keys) with its sha256 (`io.stackup.spec-hash`), so the next plan can say field by field
what changed without any state file. Sensitive values are replaced by a salted digest before
they reach a label: a change is still detected, the value never leaves the machine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from pydantic import JsonValue

PREFIX = "io.stackup."
PROJECT = "io.stackup.project"
SERVICE = "io.stackup.service"
NUMBER = "io.stackup.container-number"
SPEC = "io.stackup.spec"
SPEC_HASH = "io.stackup.spec-hash"
VERSION = "io.stackup.version"
SALT = "io.stackup.salt"
REPLACES = "io.stackup.replaces"  # on a container made by a recreate that has not finished yet
# A replacement container is created under `<name>_stackup-new` and renamed once its
# predecessor is gone; a container still carrying the suffix is left from an interrupted apply.
TEMPORARY_SUFFIX = "_stackup-new"
ONEOFF = "io.stackup.oneoff"
# On the container made only to read an image's files (never started, removed at once).
PATH_PROBE = "io.stackup.path-probe"
# On the container that is a project's lock (stackup.targets.engine.lock): its value is the
# lease's name; `io.stackup.lease.<key>` labels name its holder. Never a service's container.
LEASE = "io.stackup.lease"
# On the container made only to write or read files on the engine's host (never started,
# removed at once; one a killed command left is removed by a later command): the directory
# it mounts (stackup.engine.docker.hostfiles).
HOST_FILES = "io.stackup.host-files"
# On the container that is one release of a project (stackup.usecases.releases): created and
# never started, its value the release's number; `io.stackup.release.<key>` labels say when,
# by whom and from which commit. It names its project with RELEASE_PROJECT, not PROJECT: what
# lists a project's containers by PROJECT (observe, ps, ls, down, `docker ps --filter`) never
# sees it.
RELEASE = "io.stackup.release"
RELEASE_PROJECT = "io.stackup.release.project"
NETWORK = "io.stackup.network"
VOLUME = "io.stackup.volume"

LABEL_SCHEMA_VERSION = "1"

COMPOSE_PROJECT = "com.docker.compose.project"


def canonical_json(value: JsonValue) -> str:
    """One spelling for one value: sorted keys, no spaces, UTF-8 kept readable."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()


def sensitive_digest(value: str, salt: str) -> str:
    """A keyed digest, so a weak password cannot be found from the label by hashing guesses
    without the salt (which lives only on this engine's resources)."""
    mac = hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"(sensitive sha256:{mac[:16]})"


def resource_labels(
    project: str,
    canonical: str,
    *,
    salt: str,
    service: str | None = None,
    number: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every label a resource carries: the user's own first, ours on top."""
    labels = dict(extra or {})
    labels.update(
        {
            PROJECT: project,
            SPEC: canonical,
            SPEC_HASH: spec_hash(canonical),
            VERSION: LABEL_SCHEMA_VERSION,
            SALT: salt,
        }
    )
    if service is not None:
        labels[SERVICE] = service
    if number is not None:
        labels[NUMBER] = str(number)
    return labels
