"""The public API of :mod:`prunebench.report`."""

import subprocess
import sys


def test_report_imports_no_torch():
    code = "import prunebench.report, sys; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
