"""``prunebench bench-report``'s measurements: the zoo it measures and the FLOPs it counts
(:mod:`prunebench.report.bench`)."""

from prunebench import records
from prunebench.cli import main
from prunebench.report import bench


def test_the_asv_suite_times_the_same_zoo():
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).parents[2] / "benchmarks" / "common.py").read_text())
    assigned = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                    and any(getattr(t, "id", None) == "ZOO_MODELS" for t in node.targets))
    assert tuple(ast.literal_eval(assigned)) == bench.ZOO_MODELS


def test_tiny_zoo_run_counts_flops(tmp_path, capsys):
    out = tmp_path / "zoo"
    status = main(["bench-report", "--zoo", "--out", str(out), "--models", "mlp-64-32-10", "cnn-dilated",
                   "--batch", "4", "--repeats", "1", "--min-time", "0", "--no-peers", "--quiet"])
    assert status == 0
    record = records.read_record(out / "bench-report.json")
    assert record["config"]["zoo"] and record["config"]["loss"] == "ce" and record["config"]["batch"] == 4
    rows = record["results"]["rows"]
    assert {r["method"] for r in rows if r["kind"] == "diag"} == set(bench.ZOO_METHODS)
    assert all(r["flops"] > 0 for r in rows)
    assert any(t["target"] == "ggn <= 3x a gradient on the CNNs" for t in record["results"]["targets"])
    assert "Machine load" in (out / "bench-report.md").read_text()
    for name in ("bench-zoo.png", "bench-zoo.svg", "bench-cost.png"):
        assert (out / name).stat().st_size > 0, name


def test_cpu_peak_memory_is_the_tensors_held_at_once_to_the_byte():
    """The peak of the bytes held for tensors, above what was held before: two 200 KiB tensors alive together
    count twice, one freed before the next once, and a tensor made before the call not at all. (The resident
    set, the earlier meter, read a 200 KiB tensor as 0 to 24 KiB on a 2-core VM.)"""
    import torch

    size = 200 * 1024
    before = torch.ones(size // 4)

    def together():
        a, b = torch.ones(size // 4), torch.ones(size // 4)
        return a.data_ptr() != b.data_ptr()

    def one_after_the_other():
        for _ in range(2):
            a = torch.ones(size // 4)
            del a

    assert bench.peak_memory(together, "cpu") == 2 * size
    assert bench.peak_memory(one_after_the_other, "cpu") == size
    assert bench.peak_memory(lambda: before.add_(before), "cpu") == 0
