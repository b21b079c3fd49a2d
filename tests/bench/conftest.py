import pytest

from halkit.bench import run


@pytest.fixture(scope="session")
def small_results():
    """One tiny real run shared by the result tests: two shapes, numpy + torch (+ native when built)."""
    return run(shapes=[(8, 16, 32), (4, 4, 4)], ops=["matmul", "linear_fused", "overhead"], threads=[1],
               repeats=3, min_time=1e-3, quick=True, progress=False)
