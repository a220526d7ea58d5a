"""Shared fixtures live in tests/fixtures/, one module per area."""

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.s3",
    "tests.fixtures.media",
    "tests.fixtures.stack",
    "tests.fixtures.world",
]
