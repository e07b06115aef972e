"""The security lint: rules over a stack, SARIF output."""
