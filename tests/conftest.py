"""Fixtures shared by the whole suite."""
import numpy as np
import pytest

import halkit.hal as hal


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
