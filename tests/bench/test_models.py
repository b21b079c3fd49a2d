"""run_models on the tiny configuration: rows, checks against eager, ratios. Wall times are never asserted on."""
import math

import pytest

from halkit.bench import ModelResults, run_models

TINY = {"size": "tiny", "threads": [1], "rounds": 3, "min_time": 1e-3, "progress": False}


@pytest.fixture(scope="module")
def tiny_models():
    """Both models, both modes, the three routes that compile in seconds (inductor has its own test)."""
    return run_models(routes=["eager", "convert", "halkit"], **TINY)


def test_one_row_per_model_mode_route_and_all_match_eager(tiny_models):
    keys = [(r["model"], r["mode"], r["route"]) for r in tiny_models]
    assert keys == [(m, mode, route) for m in ("resnet18", "bert") for mode in ("forward", "train")
                    for route in ("eager", "convert", "halkit")]
    failed = [(r["model"], r["mode"], r["route"], r["error"]) for r in tiny_models if r["error"]]
    assert not failed
    assert all(r["matched"] for r in tiny_models), [(r["model"], r["mode"], r["route"]) for r in tiny_models
                                                     if not r["matched"]]


def test_differences_and_ratios_are_finite_and_from_the_same_run(tiny_models):
    for r in tiny_models:
        assert math.isfinite(r["max_abs_diff"]) and r["max_abs_diff"] <= 1e-3
        assert (r["grad_max_abs_diff"] is not None) == (r["mode"] == "train")
        assert r["min_s"] <= r["q1_s"] <= r["median_s"] <= r["q3_s"] <= r["max_s"] and r["rounds"] == 3
        eager, = tiny_models.select(model=r["model"], mode=r["mode"], route="eager")
        assert math.isclose(r["vs_eager"], eager["median_s"] / r["median_s"])
        assert r["vs_inductor"] is None  # inductor was not run
    assert all(r["max_abs_diff"] == 0 and r["vs_eager"] == 1.0 for r in tiny_models.select(route="eager"))


def test_without_autocast_rows_say_none_and_the_header_is_unchanged(tiny_models):
    assert {r["autocast"] for r in tiny_models} == {None}
    assert "autocast" not in tiny_models.meta and "check" not in tiny_models.meta
    assert "# autocast" not in tiny_models.table() and "# check" not in tiny_models.table()


def test_table_states_machine_load_and_every_row(tiny_models):
    table = tiny_models.table()
    for text in ("# machine:", "# machine load:", "route halkit", "x eager", "max|d| out", "resnet18", "bert"):
        assert text in table
    assert table.count("  ok") == len(tiny_models)
    assert "loaded" in tiny_models.meta["load"] and tiny_models.meta["load"]["cores"] >= 1


def test_json_and_csv_round_trip(tiny_models, tmp_path):
    json_path, csv_path = tiny_models.save(tmp_path, "models")
    assert list(ModelResults.from_json(json_path)) == list(tiny_models)
    back = ModelResults.from_csv(csv_path)
    assert [(r["model"], r["route"], r["matched"], r["threads"]) for r in back] == \
           [(r["model"], r["route"], r["matched"], r["threads"]) for r in tiny_models]


@pytest.mark.slow
def test_inductor_route_compiles_at_the_pinned_thread_count_and_matches():
    results = run_models(models=["resnet18"], modes=["forward"], routes=["inductor"], **TINY)
    eager, inductor = results
    assert (eager["route"], inductor["route"]) == ("eager", "inductor")
    assert inductor["error"] is None and inductor["matched"]
    assert math.isclose(eager["vs_inductor"], inductor["median_s"] / eager["median_s"])
    assert inductor["vs_inductor"] == 1.0


def test_a_route_that_fails_is_reported_not_raised(monkeypatch):
    from halkit.bench import models

    def broken(route, model):
        if route == "convert":
            raise RuntimeError("no kernel for this op")
        return original(route, model)

    original = models.prepare
    monkeypatch.setattr(models, "prepare", broken)
    results = run_models(models=["resnet18"], modes=["forward"], routes=["convert"], **TINY)
    failed, = results.select(route="convert")
    assert failed["error"] == "RuntimeError: no kernel for this op" and "median_s" not in failed
    assert "FAILED: RuntimeError: no kernel for this op" in results.table()
    assert any("convert failed" in note for note in results.meta["notes"])


@pytest.mark.parametrize("kwargs, message", [
    ({"models": ["vgg"]}, "unknown model"),
    ({"routes": ["tvm"]}, "unknown route"),
    ({"modes": ["infer"]}, "mode must be"),
    ({"size": "huge"}, "size must be"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_models(**{**TINY, **kwargs})
