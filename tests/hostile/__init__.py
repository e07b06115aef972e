"""The hostile-input corpus of issue 26, by class of attack.

Each `cases_<topic>.py` module here exposes `cases() -> list[Case]` (Case from
tests/unit/hostile_cases.py, with `klass` set), and may expose `KNOWN_FAILURES: dict[str, str]`
(case name → why it still fails; those cases are xfail until fixed). A case with empty `args`
runs in every mode the harness knows (`harness.MODES`: config, diff --against, lint, graph in
each format, `diff -o`); one with `args` runs as given. `env={"STACKUP_UNTRUSTED": "1"}` with
empty args runs every mode untrusted. A case whose files are laid out under `repo/` runs there,
and its other files (`outside/...`, and `home/...`: the harness's HOME) are outside the
repository: an untrusted run must not open them. Plant `SECRET` where a leak would show it and
`FORGED` right after a line break you inject; never use either as an ordinary name.

tests/hostile/harness.py runs and judges them (its docstring lists the rules: the planted
`SECRET`, the `FORGED` marker after a planted line break, control characters, Markdown);
tests/hostile/test_corpus.py is the test, and `PYTHONPATH=. python bench/hostile.py` prints
the counts per class. Class `control` is reserved for cases that must be judged leaking.

    .venv/bin/python -m pytest tests/hostile -q            # the whole corpus (~400 cases: 10-40 s on 2 cores)
    .venv/bin/python -m pytest tests/hostile -q -k shadow  # the cases whose name has "shadow"
"""
