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


def _timing(*samples):
    from halkit.bench import Timing

    return Timing(tuple(samples), calls_per_sample=1)


def test_quartiles_spread_and_noise():
    steady = _timing(1.0, 1.01, 1.02, 0.99, 1.0)
    assert steady.quartiles == (pytest.approx(1.0), pytest.approx(1.01))
    assert steady.spread == pytest.approx(1.02 / 0.99) and not steady.noisy
    assert _timing(1.0, 1.0, 1.0, 1.0, 2.0).noisy  # one round twice as slow: the rounds disagree
    assert _timing(1.0, 1.3, 1.0, 1.3, 1.0).noisy  # interquartile range 30 % of the median


def test_a_difference_is_significant_only_beyond_the_noise():
    fast, slow = _timing(1.0, 1.01, 0.99, 1.0), _timing(2.0, 2.02, 1.98, 2.0)
    assert fast.differs_from(slow) and slow.differs_from(fast)
    overlapping = _timing(0.9, 1.2, 1.0, 1.1)
    assert not fast.differs_from(overlapping)
    assert not _timing(1.0, 1.0).differs_from(_timing(2.0, 2.0))  # two rounds cannot tell


def test_the_loop_waits_for_the_device_before_the_clock_stops(monkeypatch):
    from halkit.bench import timing

    events = []
    clock = iter(range(100))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: events.append("clock") or float(next(clock)))
    monkeypatch.setattr(timing.hal, "synchronize", lambda device=None: events.append(f"sync {device}"))
    timing.loop_sampler(lambda: events.append("call"))(3)
    assert events == ["clock", "call", "call", "call", "sync None", "clock"]
    events.clear()
    timing.loop_sampler(lambda: events.append("call"), device="mock")(1)
    assert events == ["clock", "call", "sync mock", "clock"]


def test_the_context_is_entered_around_the_sample_not_each_call():
    import contextlib

    from halkit.bench import loop_sampler

    events = []

    @contextlib.contextmanager
    def context():
        events.append("enter")
        yield
        events.append("exit")

    loop_sampler(lambda: events.append("call"), context)(2)
    assert events == ["enter", "call", "call", "exit"]
