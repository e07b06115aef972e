"""Flags shared by `diff`, `up` and `watch`, and turning them into reconcile options."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click

from stackup.errors import UsageError
from stackup.loading.consistency import total_containers_problem
from stackup.loading.hostpaths import untrusted_from_environment
from stackup.model.parts import MAX_REPLICAS
from stackup.planning.options import ReconcileOptions

if TYPE_CHECKING:
    from stackup.cli.common import Trust
    from stackup.loading.loader import LoadedStack
    from stackup.planning.options import ReconcileOptions

F = TypeVar("F", bound=Callable[..., Any])


def reconcile_flags(fn: F) -> F:
    for option in reversed(
        [
            click.option(
                "--remove-orphans",
                is_flag=True,
                help="Remove containers of services no longer in the file.",
            ),
            click.option(
                "--force-recreate", is_flag=True, help="Recreate containers even when unchanged."
            ),
            click.option("--no-recreate", is_flag=True, help="Never recreate existing containers."),
            click.option(
                "-V",
                "--renew-anon-volumes",
                is_flag=True,
                help="Give recreated containers new anonymous volumes instead of the old ones.",
            ),
            click.option(
                "--scale",
                "scale",
                multiple=True,
                metavar="SERVICE=N",
                help="Run N containers of SERVICE.",
            ),
            click.option(
                "--pull",
                type=click.Choice(["always", "missing", "never"]),
                default="missing",
                show_default=True,
                help="When to pull images (a service's pull_policy wins).",
            ),
            click.option(
                "--build",
                "do_build",
                is_flag=True,
                help="Build the images of services with a `build:` section, not only missing ones.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def trust_flags(fn: F) -> F:
    """`--untrusted` and `--env NAME`, for the commands that read a stack without running it
    (config, diff, lint, graph): see stackup.loading.hostpaths."""
    for option in reversed(
        [
            click.option(
                "--untrusted",
                is_flag=True,
                help="Treat the stack as hostile (a pull request's): read files only from inside "
                "the repository and no environment variable but those of --env "
                "(also STACKUP_UNTRUSTED=1; diff --against and --base imply it).",
            ),
            click.option(
                "--env",
                "passed_env",
                multiple=True,
                metavar="NAME",
                help="In untrusted mode, let interpolation read this environment variable "
                "(repeatable).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def trust(untrusted: bool, passed_env: tuple[str, ...], review: bool = False) -> Trust:
    """The trust of this run: untrusted with the flag, STACKUP_UNTRUSTED or a review."""
    from stackup.cli.common import Trust

    return Trust(untrusted or review or untrusted_from_environment(), passed_env)


def check_services(loaded: LoadedStack, services: tuple[str, ...]) -> None:

    for name in services:
        if name not in loaded.stack.services:
            close = difflib.get_close_matches(name, list(loaded.stack.services), n=1)
            raise UsageError(
                f'no such service: "{name}"',
                hint=f'did you mean "{close[0]}"?'
                if close
                else "services: " + ", ".join(sorted(loaded.stack.services)),
            )


def parse_scale(values: tuple[str, ...], loaded: LoadedStack) -> dict[str, int]:

    out: dict[str, int] = {}
    for item in values:
        name, sep, count = item.partition("=")
        if not sep or not (count.isascii() and count.isdigit()):
            raise UsageError(f'invalid --scale "{item}" (expected SERVICE=N)')
        check_services(loaded, (name,))
        # The cap of `scale:` in the file holds for the flag too.
        if len(count) > 6 or int(count) > MAX_REPLICAS:
            raise UsageError(f"--scale {name}: at most {MAX_REPLICAS} containers")
        out[name] = int(count)
    problem = total_containers_problem(loaded.stack, out)
    if problem is not None:
        raise UsageError(f"--scale: {problem[1]}")
    return out


def reconcile_options(
    loaded: LoadedStack, services: tuple[str, ...], flags: Mapping[str, object]
) -> ReconcileOptions:

    if flags.get("force_recreate") and flags.get("no_recreate"):
        raise UsageError("--force-recreate and --no-recreate cannot be used together")
    scale = flags.get("scale") or ()
    assert isinstance(scale, tuple)
    return ReconcileOptions(
        services=services,
        remove_orphans=bool(flags.get("remove_orphans")),
        force_recreate=bool(flags.get("force_recreate")),
        no_recreate=bool(flags.get("no_recreate")),
        renew_anon_volumes=bool(flags.get("renew_anon_volumes")),
        scale=parse_scale(scale, loaded),
        pull=str(flags.get("pull") or "missing"),
        build=bool(flags.get("do_build")),
    )
