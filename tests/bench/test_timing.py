"""The interleaved timer: order, rounds, sample length. Timings themselves are never asserted on."""
import pytest

from halkit.bench import compare, interleaved
from halkit.bench.timing import calls_for


def _recording(name, log, per_call=1e-3):
    def sample(n):
        log.append((name, n))
        return n * per_call  # a fake clock: n calls take n ms

    return sample


def test_rounds_interleave_backends_in_a_fixed_order():
    log = []
    timings = interleaved({"a": _recording("a", log), "b": _recording("b", log), "c": _recording("c", log)},
                          rounds=9, min_time=0.01, warmup=0)
    measured = [name for name, n in log if n == timings[name].calls_per_sample][-27:]
    assert measured == ["a", "b", "c"] * 9
    assert all(len(t.samples) == 9 for t in timings.values())


def test_each_sample_is_long_enough_and_times_are_per_call():
    log = []
    timing = interleaved({"x": _recording("x", log, per_call=1e-3)}, rounds=3, min_time=0.05, warmup=0)["x"]
    assert timing.calls_per_sample * 1e-3 >= 0.05
    assert timing.median == pytest.approx(1e-3)


def test_warmup_runs_before_measuring():
    log = []
    calls_for(_recording("x", log, per_call=1e-3), min_time=0.01, warmup=0.1)
    assert sum(n for _, n in log) * 1e-3 >= 0.1


@pytest.mark.parametrize("kwargs", [{"rounds": 0}, {"min_time": 0}, {"min_time": -1}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        interleaved({"x": _recording("x", [])}, **kwargs)


def test_compare_times_plain_callables():
    calls = []
    timings = compare({"f": lambda: calls.append(1), "g": lambda: None}, rounds=2, min_time=1e-4)
    assert set(timings) == {"f", "g"} and calls
    assert all(t.median > 0 for t in timings.values())
