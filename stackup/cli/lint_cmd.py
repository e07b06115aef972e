"""`stackup lint`: the security rules over the stack file; exit 0 clean, 3 with findings at or
above the threshold, 1 on error."""

from __future__ import annotations

import sys

import click

from stackup.cli.common import global_options
from stackup.cli.options import trust, trust_flags
from stackup.lint.linter import Severity, at_or_above, lint_report, render_json, render_text
from stackup.lint.sarif import render_sarif

LINT_FINDINGS_EXIT = 3


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="Output format; sarif is SARIF 2.1.0 for code-review tools.",
)
@click.option(
    "--severity",
    type=click.Choice(["low", "medium", "high"]),
    default="medium",
    show_default=True,
    help="Report, and fail on, findings at or above this severity.",
)
@trust_flags
@click.argument("services", nargs=-1)
def lint(
    fmt: str,
    severity: str,
    services: tuple[str, ...],
    untrusted: bool,
    passed_env: tuple[str, ...],
) -> None:
    """Check the stack against security rules (CIS Docker Benchmark), before anything runs.

    Suppress a finding with a reason in the stack file:
    `x-stackup: {lint: {ignore: [{rule: SU012, reason: "..."}]}}`.
    """

    loaded = global_options().load(trust(untrusted, passed_env))
    report = lint_report(loaded, services)
    threshold = Severity.parse(severity)
    if fmt == "sarif":
        output = render_sarif(report, threshold)
    elif fmt == "json":
        output = render_json(report, threshold)
    else:
        output = render_text(report, threshold)
    sys.stdout.write(output)
    sys.stdout.flush()
    if at_or_above(report.findings, threshold):
        # sys.exit, not click.exceptions.Exit: `cli.main(standalone_mode=False)` returns the
        # latter's code instead of exiting with it.
        sys.exit(LINT_FINDINGS_EXIT)
