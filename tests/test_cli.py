"""The command line: help on every subcommand, clear errors without tracebacks."""

import argparse
import subprocess
import sys

import pytest

from prunebench.cli import _build_parser, main


def _subparsers(parser: argparse.ArgumentParser):
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _subcommands():
    return sorted(_subparsers(_build_parser("*")).choices)


def _all_parsers(parser: argparse.ArgumentParser, path: str = "prunebench"):
    yield path, parser
    action = _subparsers(parser)
    for name, child in (action.choices.items() if action else ()):
        yield from _all_parsers(child, f"{path} {name}")


def test_module_entry_point_prints_help_without_importing_torch():
    code = ("import runpy, sys\nsys.argv = ['prunebench', '--help']\ntry:\n    runpy.run_module('prunebench', "
            "run_name='__main__')\nexcept SystemExit:\n    pass\nassert 'torch' not in sys.modules, 'torch imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for command in _subcommands():
        assert command in out.stdout


def test_every_option_of_every_command_has_help():
    missing = [f"{path} {'/'.join(action.option_strings) or action.dest}"
               for path, parser in _all_parsers(_build_parser("*")) for action in parser._actions
               if not action.help and not isinstance(action, argparse._SubParsersAction)]
    assert missing == []


def test_every_parser_formats_its_help():
    """``--help`` at every depth (``prunebench reproduce obd-usps --help``) renders: no stray ``%`` in help text."""
    broken = []
    for path, parser in _all_parsers(_build_parser("*")):
        try:
            parser.format_help()
        except (ValueError, TypeError, KeyError) as exc:
            broken.append(f"{path}: {exc}")
    assert broken == []


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
