"""The FMA peak as a public number, and a figure above it flagged as the measurement error it is."""
import pytest

from halkit import hal
from halkit.bench import Peak, fma_peak, run
from halkit.bench import runner

needs_native = pytest.mark.skipif("native" not in hal.backends(), reason="native extension not built")


@needs_native
def test_fma_peak_is_a_positive_rate():
    assert fma_peak(threads=1, seconds=0.01, samples=1) > 1.0  # GFLOP/s; any real CPU does more than 1


@needs_native
@pytest.mark.parametrize("kwargs", [{"threads": 0}, {"threads": True}, {"seconds": 0}, {"samples": 0}])
def test_fma_peak_refuses_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        fma_peak(**kwargs)


def test_fma_peak_without_the_extension_says_how_to_build(monkeypatch):
    from halkit.bench import peak

    monkeypatch.setattr(peak, "_native_fma_kernel", lambda: None)
    with pytest.raises(RuntimeError, match="python -m halkit.build"):
        fma_peak()


def test_a_figure_above_the_peak_is_flagged_in_rows_table_and_notes(monkeypatch):
    monkeypatch.setattr(runner, "measure_peak", lambda *args, **kwargs: Peak(1e-6, "measured: a test's tiny peak"))
    results = run(shapes=[(16, 16, 16)], backends=["numpy"], threads=[1], repeats=1, min_time=1e-4, quick=True,
                  progress=False)
    row, = results
    assert row["over_peak"] and row["pct_peak"] > 100
    assert results.meta["notes"][0].startswith("MEASUREMENT ERROR: 1 figure(s) above 100 % of the measured peak")
    assert f"{row['pct_peak']:.1f}!" in results.table()


def test_only_figures_above_the_peak_are_flagged(small_results):
    assert all(r["over_peak"] == (r["pct_peak"] > 100) for r in small_results)
