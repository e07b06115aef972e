"""`python -m tests.memorytarget.cli ARGS`: the stackup CLI with the memory target
registered, as a plugin would register one."""

from stackup.cli import main
from stackup.targets.registry import register
from tests.memorytarget.target import MEMORY

register(MEMORY)
main()
