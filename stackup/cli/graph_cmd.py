"""`stackup graph`: the dependency graph as start waves, DOT or Mermaid, or a picture."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click

from stackup.cli.common import global_options, write_output
from stackup.cli.options import trust, trust_flags
from stackup.errors import UsageError
from stackup.escape import terminal
from stackup.planning import graph as resource_graph


@click.command("graph")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "dot", "mermaid"]),
    default="text",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write to FILE; .svg/.png render through Graphviz.",
)
@trust_flags
def graph(fmt: str, output: str | None, untrusted: bool, passed_env: tuple[str, ...]) -> None:
    """Show the start order in waves, or the graph as DOT / Mermaid (-o graph.svg draws it)."""

    loaded = global_options().load(trust(untrusted, passed_env))
    g = resource_graph.build_graph(loaded.stack, loaded.source)
    suffix = Path(output).suffix.lower() if output else ""
    if suffix in (".svg", ".png", ".pdf"):
        dot = shutil.which("dot")
        if dot is None:
            raise UsageError(
                f"rendering {suffix} needs Graphviz's `dot`, which is not installed",
                hint="install it (`apt-get install graphviz`, `brew install graphviz`), or write "
                "DOT with -o graph.dot",
            )
        result = subprocess.run(
            [dot, f"-T{suffix[1:]}", "-o", output or ""],
            input=resource_graph.to_dot(g, loaded.stack.name).encode(errors="backslashreplace"),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise UsageError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
        click.echo(f"wrote {terminal(output or '')}")
        return
    if fmt == "dot" or suffix in (".dot", ".gv"):
        text = resource_graph.to_dot(g, loaded.stack.name)
    elif fmt == "mermaid" or suffix in (".mmd", ".mermaid"):
        text = resource_graph.to_mermaid(g)
    else:
        text = resource_graph.waves_text(g)
    if output:
        write_output(output, text, "the graph")
        click.echo(f"wrote {terminal(output)}")
    else:
        click.echo(text, nl=False)
