"""The command line: help on every subcommand, clear errors without tracebacks."""

import subprocess
import sys

import pytest

from prunebench.cli import _EXTENSIONS, _build_parser, _extensions, main


def _subcommands():
    _EXTENSIONS[:] = _extensions()
    parser = _build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_module_entry_point_prints_help():
    out = subprocess.run([sys.executable, "-m", "prunebench", "--help"], capture_output=True, text=True, check=True)
    assert "datasets" in out.stdout


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: prunebench" in capsys.readouterr().out


def test_models_lists_shapes(capsys):
    assert main(["models"]) == 0
    assert "MLP(17-3-1, sigmoid) [58 free parameters" in capsys.readouterr().out


def test_unknown_task_is_one_clear_line(capsys):
    assert main(["train", "--task", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: task must be one of") and "Traceback" not in err


def test_cuda_without_gpu_is_refused(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert main(["train", "--task", "xor", "--device", "cuda"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


def test_train_writes_a_record(tmp_path, capsys):
    from prunebench import records

    out = tmp_path / "xor.json"
    assert main(["train", "--task", "xor", "--seed", "0", "--json", str(out)]) == 0
    rec = records.read_record(out)
    assert rec["results"]["evaluation"]["train_accuracy"] == 1.0
