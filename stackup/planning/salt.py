"""The salt of a project's sensitive-value digests, decided in one place.

Sensitive values (secret-sounding environment variables, secret contents, the versions of
swarm configs and secrets) reach labels only as an HMAC keyed with the project's salt
(`labels.sensitive_digest`), so a weak password cannot be found from a label by hashing
guesses. The salt itself is stored on every resource of the project (`io.stackup.salt`).

The rules, first match wins:

1. A salt already on the project's resources: the digests of what runs were made with it,
   so only with it does an unchanged value compare equal.
2. The salt the caller was given (`options.salt`), unless it is `UNSET`.
3. The caller's fallback for a project that has none yet:
   - a plan against an engine (`api.plan_options`): keyed with the engine's ID and the
     project name (`engine_keyed`): stable from `diff -o` to `up --plan`, yet not guessable
     from the project name alone, since the engine's ID never leaves the host;
   - a review (`review.plan_between`), a one-off `run` and the swarm target: a fresh random
     one (`fresh`). A review's Markdown goes into pull-request comments, where a known key
     would let anyone test guesses of a weak secret against its digest.
4. Without a fallback, `UNSET` itself (a pure `reconcile` with default options).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping

from stackup.model import labels as label_keys

UNSET = "stackup"  # the default `options.salt`: no salt was given


def choose(
    on_engine: Iterable[Mapping[str, str]] = (),
    given: str = UNSET,
    fallback: Callable[[], str] | None = None,
) -> str:
    """The salt by the rules above. `on_engine` is the labels of the project's resources, in
    the order the caller trusts them (the first one carrying a salt wins)."""
    for labels in on_engine:
        found = labels.get(label_keys.SALT)
        if found:
            return found
    if given != UNSET or fallback is None:
        return given
    return fallback()


def engine_keyed(engine_id: str, project: str) -> str:
    return hashlib.sha256(f"{engine_id}\0{project}".encode()).hexdigest()[:16]


def fresh() -> str:
    return secrets.token_hex(8)
