"""A third target, for tests: stacks kept in memory (over `stackup.engine.fake.FakeEngine`),
planned and applied through the shared plan runner and use cases. It supports none of the
optional capabilities, so every command that needs one refuses in its words.

It is what `docs/architecture.md` ("How to add a target") walks through: a kind with its
capabilities, a `Target` (observe and plan, check, plan_down, execute through the runner with
its own step interpreter, ps, logs), registered by name."""
