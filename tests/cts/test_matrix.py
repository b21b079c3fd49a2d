"""What the suite prints: the contract table and the capability matrix, read back from their text."""
import halkit.hal as hal
from halkit import cts
from halkit.hal import opset

from .conftest import example_driver_class


def test_contract_table_lists_every_method_a_driver_implements():
    table = cts.contract_table()
    names = [line.split("(")[0] for line in table.splitlines()]
    assert set(hal.Driver.__abstractmethods__) <= set(names)
    assert "close" in names and all(len(line.split("  ", 1)[-1].strip()) > 10 for line in table.splitlines())


def test_matrix_marks_how_each_op_ran_and_lists_expected_failures():
    arena = example_driver_class()()
    try:
        reports = [cts.run("numpy", select="ops.*"), cts.run(arena, select="ops.*"),
                   cts.run("numpy", select="errors.*")]
    finally:
        arena.close()
    matrix = cts.capability_matrix(reports[:2])
    rows = {line.split()[0]: line.split()[1:] for line in matrix.splitlines() if line.split()[:1] and line.split()[0] in opset.OPS}
    assert set(rows) == set(opset.OPS)
    assert rows["gemm"] == ["✓", "✓", "✓", "✓"]  # numpy f32, f64, bf16; arena f32 (no float64/bf16: blank)
    checked = {res.feature for res in reports[0].results}  # bfloat16 is declared for gemm and cast only
    assert {"ops.gemm.bfloat16", "ops.cast.bfloat16"} <= checked and "ops.relu.bfloat16" not in checked
    assert rows["bmm"] == ["✓", "✓", "d"] and rows["conv2d"] == ["✓", "✓", "h"]
    assert "12 GB/s up" in matrix and "0.25 GiB (device memory)" in matrix
    errors = cts.capability_matrix([reports[2]])
    assert "expected failure: errors.use_after_free — host memory is reclaimed" in errors
