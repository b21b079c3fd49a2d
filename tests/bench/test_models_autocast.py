"""python -m halkit.bench models --autocast bfloat16: every route under CPU autocast, checked against eager under
autocast with the bf16 tolerance, notes saying what each route really computes in bf16. Wall times are never
asserted on."""
import copy
import json

import pytest
import torch
from torch import nn

from halkit.bench import ModelResults, forward_step, run_models, training_step
from halkit.bench import models
from halkit.bench.__main__ import main

TINY = {"size": "tiny", "threads": [1], "rounds": 1, "min_time": 1e-3, "progress": False, "autocast": "bfloat16"}


@pytest.fixture(scope="module")
def tiny_bert():
    """Tiny BERT, both modes, under bf16 autocast, through the routes that compile in seconds."""
    return run_models(models=["bert"], routes=["eager", "convert", "halkit"], **TINY)


def test_every_row_records_the_autocast_dtype_and_matches_eager_under_autocast(tiny_bert):
    assert [(r["mode"], r["route"]) for r in tiny_bert] == [(mode, route) for mode in ("forward", "train")
                                                            for route in ("eager", "convert", "halkit")]
    assert {r["autocast"] for r in tiny_bert} == {"bfloat16"}
    assert not [r["error"] for r in tiny_bert if r["error"]]
    assert all(r["matched"] for r in tiny_bert), [(r["mode"], r["route"]) for r in tiny_bert if not r["matched"]]
    assert all(r["max_abs_diff"] == 0 for r in tiny_bert.select(route="eager"))


def test_header_states_the_autocast_dtype_the_tolerance_and_autocasts_own_error(tiny_bert):
    table = tiny_bert.table()
    assert '# autocast: bfloat16: every route runs under torch.autocast("cpu", dtype=torch.bfloat16)' in table
    check = tiny_bert.meta["check"]
    assert f"within {models.BF16_TOLERANCE:g} (2**-5)" in check and f"{models.BF16_NOISE}x" in check
    assert "bert forward x1: output" in check and "bert train x1: output" in check and "gradients median" in check
    assert f"# check: {check}" in table


def test_notes_say_what_convert_and_the_halkit_compiler_compute_in_bf16(tiny_bert):
    notes = tiny_bert.meta["notes"]
    convert = [n for n in notes if n.startswith("convert bert under autocast bfloat16: its 6 linear layer(s)")]
    assert len(convert) == 1  # once, not once per mode
    compiled = [n for n in notes if n.startswith("halkit bert ")]
    # from the compiler's placement report: how many nodes and matrix ops it put on the HAL, and why not the rest
    assert [n.split(" under")[0] for n in compiled] == ["halkit bert forward", "halkit bert train"]
    assert all("call nodes placed on the HAL" in n and "matrix ops" in n for n in compiled)


def test_json_and_csv_keep_the_autocast_column(tiny_bert, tmp_path):
    json_path, csv_path = tiny_bert.save(tmp_path, "models")
    assert list(ModelResults.from_json(json_path)) == list(tiny_bert)
    assert ModelResults.from_json(json_path).meta["autocast"].startswith("bfloat16")
    assert {r["autocast"] for r in ModelResults.from_csv(csv_path)} == {"bfloat16"}


def _perturbed_convert(monkeypatch, change):
    """models.prepare with ``change`` applied to the convert route's last linear/conv weight (a wrong kernel)."""
    original = models.prepare

    def prepare(route, model):
        runnable, trained = original(route, model)
        if route == "convert":
            layers = [m for m in runnable.modules() if hasattr(m, "weight") and m.weight is not None
                      and m.weight.dim() >= 2]
            with torch.no_grad():
                change(layers[-1].weight)
        return runnable, trained

    monkeypatch.setattr(models, "prepare", prepare)


@pytest.mark.parametrize("model, mode", [("bert", "train"), ("resnet18", "forward")])
def test_a_perturbed_weight_fails_the_bf16_check(monkeypatch, model, mode):
    # A check that never fails is worthless: a quarter too much in one layer's weight is far beyond bf16 rounding.
    _perturbed_convert(monkeypatch, lambda w: w.mul_(1.25))
    results = run_models(models=[model], modes=[mode], routes=["convert"], **TINY)
    eager, convert = results
    assert eager["matched"] and not convert["matched"]
    assert "MISMATCH" in results.table()
    assert any(n.startswith(f"{model} {mode} x1 convert: output differs from eager under autocast bfloat16")
               for n in results.meta["notes"])


def test_resnet_convert_under_autocast_matches_and_says_conv2d_computes_in_float32():
    results = run_models(models=["resnet18"], modes=["forward"], routes=["convert"], **TINY)
    assert all(r["matched"] and r["autocast"] == "bfloat16" for r in results)
    note, = [n for n in results.meta["notes"] if n.startswith("convert resnet18")]
    assert "20 conv2d layer(s) compute in float32 and cast the result to bfloat16" in note


def test_bf16_check_uses_the_tolerance_or_autocasts_own_error_whichever_is_larger():
    reference = torch.tensor([1.0, -0.5, 0.25])
    within = reference + torch.tensor([models.BF16_TOLERANCE * 0.9, 0.0, 0.0])
    beyond = reference + torch.tensor([models.BF16_TOLERANCE * 1.1, 0.0, 0.0])
    assert models._close(within, reference, floor=0.0)
    assert not models._close(beyond, reference, floor=0.0)
    assert models._close(beyond, reference, floor=models.BF16_TOLERANCE * 1.2)  # bf16 itself moves it more
    # float32 (no floor): 1e-3 of the scale + 1e-6, as before
    assert models._close(reference + 9e-4, reference) and not models._close(reference + 2e-3, reference)


def test_steps_run_the_forward_and_loss_under_autocast_and_the_backward_outside():
    torch.manual_seed(0)
    layer, x = nn.Linear(4, 3), torch.randn(2, 4)
    assert forward_step(layer, x, autocast=torch.bfloat16)().dtype == torch.bfloat16
    assert forward_step(layer, x)().dtype == torch.float32
    output = training_step(layer, x, torch.zeros(2, 3), autocast=torch.bfloat16)()
    assert output.dtype == torch.bfloat16 and layer.weight.grad.dtype == torch.float32
    assert not torch.is_autocast_enabled("cpu")


def test_cli_models_autocast_quick_tiny_writes_rows_with_the_dtype(tmp_path, capsys):
    assert main(["models", "--autocast", "bfloat16", "--quick", "--size", "tiny", "--models", "bert",
                 "--modes", "forward", "--routes", "convert", "--threads", "1", "--repeats", "1",
                 "--no-progress", "--no-overhead", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "# autocast: bfloat16" in out and "# check:" in out
    rows = json.loads((tmp_path / "models.json").read_text())["rows"]
    assert [(r["route"], r["autocast"], r["matched"]) for r in rows] == [("eager", "bfloat16", True),
                                                                        ("convert", "bfloat16", True)]
    assert (tmp_path / "models.csv").read_text().startswith("model,mode,threads,route,autocast,")


def test_cli_autocast_float64_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["models", "--autocast", "float64", "--no-save"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--autocast" in err and "float64" in err and "bfloat16" in err


@pytest.mark.parametrize("value", ["float64", "float16", torch.float64])
def test_run_models_refuses_other_autocast_dtypes(value):
    with pytest.raises(ValueError, match="autocast must be one of \\['bfloat16'\\]"):
        run_models(**{**TINY, "autocast": value})


def test_run_models_takes_the_torch_dtype_too():
    assert models._autocast_name(torch.bfloat16) == "bfloat16" and models._autocast_name(None) is None
