"""Fixtures shared by the whole suite."""
import numpy as np
import pytest
from hypothesis import settings

import halkit.hal as hal

# Property-based tests: few examples in CI (derandomized: the same ones every run, so CI is not flaky);
# `pytest --hypothesis-profile=thorough` explores hundreds of fresh ones per test.
settings.register_profile("ci", max_examples=8, deadline=None, derandomize=True, database=None)
settings.register_profile("thorough", max_examples=400, deadline=None, database=None, print_blob=True)
settings.load_profile("ci")


def pytest_generate_tests(metafunc):
    # Every backend that loads here runs the same tests: a new backend file joins by existing.
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", hal.backends())


@pytest.fixture
def on_backend(backend):
    with hal.use(backend):
        yield backend


@pytest.fixture
def rng():
    return np.random.default_rng(0)
