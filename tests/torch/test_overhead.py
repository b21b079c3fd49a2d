"""The overhead report runs end to end (its numbers are printed, never asserted: timings are noisy)."""
import pytest
import torch

import halkit.hal as hal
from halkit.torch import overhead


@pytest.fixture
def restore_threads():
    saved = torch.get_num_threads(), hal.get_num_threads()
    yield
    torch.set_num_threads(saved[0])
    hal.set_num_threads(saved[1])


def test_report_runs(capsys, backend, restore_threads):
    overhead.main(["--rounds", "1", "--calls", "2"])
    out = capsys.readouterr().out
    assert "custom_op + register_autograd" in out and "HALLinear vs nn.Linear" in out
    assert f"on the {backend} backend" in out
