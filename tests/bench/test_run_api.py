"""run()'s argument handling: backends, shapes, threads, dtype."""
import pytest
import torch

from halkit import hal
from halkit.bench import UnknownBackendError, pinned_threads, resolve_backends, run, sweep
from halkit.bench import runner


def test_unknown_backend_names_the_available_ones():
    with pytest.raises(UnknownBackendError, match=r"unknown backend 'nope'.*numpy.*torch"):
        resolve_backends(["numpy", "nope"])


def test_unbuilt_backend_is_skipped_with_a_note(monkeypatch):
    monkeypatch.setattr(runner.hal, "backends", lambda: ["numpy"])
    monkeypatch.setattr(runner.hal, "unavailable_backends",
                        lambda: {"native": "native extension not built: run `python -m halkit.build`"})
    chosen, notes = resolve_backends(None)
    assert chosen == ["numpy", "torch"]
    assert notes == ["native skipped: native extension not built: run `python -m halkit.build`"]


def test_float64_and_custom_shapes():
    results = run(shapes=[(3, 5, 7)], backends=["numpy", "torch"], threads=[1], dtype="float64",
                  repeats=1, min_time=1e-4, quick=True, progress=False)
    assert [(r["backend"], r["dtype"], r["group"]) for r in results] == [
        ("numpy", "float64", "custom"), ("torch", "float64", "custom")]


@pytest.mark.parametrize("kwargs, message", [
    ({"dtype": "int32"}, "dtype"),
    ({"shapes": [(0, 4, 4)]}, "positive"),
    ({"ops": ["conv"]}, "unknown op"),
    ({"threads": [0]}, "thread count"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    args = {"shapes": [(4, 4, 4)], "backends": ["numpy"], "threads": [1], "repeats": 1, "min_time": 1e-4,
            "quick": True, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=message):
        run(**args)


def test_pinned_threads_sets_all_pools_and_restores_them():
    from threadpoolctl import threadpool_info

    before = hal.get_num_threads(), torch.get_num_threads()
    with pinned_threads(1):
        assert hal.get_num_threads() == 1 and torch.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    assert (hal.get_num_threads(), torch.get_num_threads()) == before


def test_standard_sweep_covers_the_issue_shapes():
    shapes = {(c.op, c.m, c.n, c.k) for c in sweep()}
    assert {("matmul", s, s, s) for s in (64, 128, 256, 512, 1024, 2048)} <= shapes
    assert {("matmul", m, 1024, 1024) for m in (1, 8, 32)} <= shapes
    assert {("linear_fused", 64, 512, 512), ("linear_unfused", 64, 512, 512), ("overhead", 1, 1, 1)} <= shapes
    assert len(sweep(quick=True)) < len(sweep())
