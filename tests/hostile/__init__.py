"""The hostile-input corpus of issue 26, by class of attack.

Each `cases_<topic>.py` module here exposes `cases() -> list[Case]` (Case from
tests/unit/hostile_cases.py, with `klass` set). A case with empty `args` runs in every mode the
harness knows (config, diff, lint, graph in each format); one with `args` runs as given.
"""
