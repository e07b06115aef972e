"""One salt policy (stackup.planning.salt) for every digest of a sensitive value: the rules, and that
each caller (a plan against an engine, a review, the swarm target) follows them."""

from __future__ import annotations

import hashlib

from stackup import api
from stackup.engine.fake import FakeEngine
from stackup.loading.loader import load_text
from stackup.model import labels as L
from stackup.planning import salt as S
from stackup.planning.options import ReconcileOptions
from stackup.planning.plan import CreateContainer, Plan
from stackup.review import plan_between
from stackup.targets.engine.execute import execute
from stackup.targets.swarm.desired import SwarmOptions
from stackup.targets.swarm.plan import SwarmObject, SwarmObserved, reconcile_swarm
from stackup.targets.swarm.steps import CreateService

STACK = """
name: salty
services:
  app:
    image: busybox:latest
    environment:
      DB_PASSWORD: hunter2
"""


def _salts(plan: Plan) -> set[str]:
    return {
        step.spec.labels[L.SALT]
        for op in plan.operations
        for step in op.steps
        if isinstance(step, CreateContainer)
    }


def test_a_salt_on_the_engine_wins_then_the_given_one_then_the_fallback() -> None:
    on_engine = [{L.PROJECT: "p"}, {L.SALT: "found"}, {L.SALT: "later"}]
    assert S.choose(on_engine, "given", lambda: "fallback") == "found"
    assert S.choose([{L.PROJECT: "p"}, {L.SALT: ""}], "given", lambda: "fallback") == "given"
    assert S.choose([], S.UNSET, lambda: "fallback") == "fallback"
    assert S.choose([], S.UNSET) == S.UNSET


def test_the_fallback_is_only_asked_for_when_needed() -> None:
    def fail() -> str:
        raise AssertionError("asked")

    assert S.choose([{L.SALT: "found"}], fallback=fail) == "found"
    assert S.choose(given="given", fallback=fail) == "given"


def test_a_new_project_is_keyed_with_the_engine_id_and_keeps_its_salt_once_applied() -> None:
    engine = FakeEngine({"busybox:latest": "sha256:" + "b0" * 32})
    loaded = load_text(STACK)
    keyed = hashlib.sha256(b"fake-engine\0salty").hexdigest()[:16]
    assert S.engine_keyed("fake-engine", "salty") == keyed
    plan = api.plan(loaded, engine)
    assert _salts(plan) == {keyed}
    assert execute(plan, engine).ok
    # Once applied, the project's own salt wins over one given: nothing changes.
    again = api.plan(loaded, engine, ReconcileOptions(salt="another"))
    assert not again.changes


def test_a_review_uses_a_fresh_salt_each_run_unless_one_is_given() -> None:
    base = load_text("name: salty\nservices: {}\n")
    head = load_text(STACK)
    first, second = _salts(plan_between(base, head)), _salts(plan_between(base, head))
    assert len(first) == len(second) == 1 and first != second
    assert S.UNSET not in first
    given = plan_between(base, head, ReconcileOptions(salt="given"))
    assert _salts(given) == {"given"}


def test_the_swarm_trusts_its_services_then_configs_secrets_and_networks() -> None:
    loaded = load_text(STACK)
    observed = SwarmObserved(
        "salty",
        networks=(SwarmObject("n", "salty_default", {L.SALT: "from-network"}),),
        secrets=(SwarmObject("s", "salty_pw-1", {L.SALT: "from-secret"}),),
    )
    assert S.choose(observed.labelled(), "given") == "from-secret"
    plan = reconcile_swarm(loaded.stack, loaded.source, observed, SwarmOptions(salt="given"))
    labels = [
        step.want.labels
        for op in plan.operations
        for step in op.steps
        if isinstance(step, CreateService)
    ]
    assert labels and all(lab[L.SALT] == "from-secret" for lab in labels)
