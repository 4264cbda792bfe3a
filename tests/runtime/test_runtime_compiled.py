"""The runtime's compiled loops also work where numba cannot cache them."""

import subprocess
import sys


def test_the_compiled_loops_work_where_numba_has_nowhere_to_cache(tmp_path):
    # numba refuses cache=True at decoration when no folder it tries is writable (a read-only install and home);
    # simulated by making its cache refuse, in a fresh process.
    script = (
        "import numba.core.caching as caching\n"
        "def refuse(self, py_func):\n"
        "    raise RuntimeError('cannot cache function: no locator available')\n"
        "caching.FunctionCache.__init__ = refuse\n"
        "import numpy as np\n"
        "from msau.runtime import grid_solvers, hint_transfer\n"
        "horizontal, vertical = np.full((3, 3), 0.2, np.float32), np.full((2, 4), 0.2, np.float32)\n"
        "rhs, y = np.ones((1, 3, 4), np.float32), np.zeros((1, 3, 4), np.float32)\n"
        "grid_solvers.conjugate_gradients(horizontal, vertical, rhs, y, 20)\n"
        "exact = grid_solvers.solve_exactly(horizontal, vertical, rhs)\n"
        "assert np.allclose(y, exact, atol=1e-4), (y, exact)\n"
        "one = np.zeros((1, 5), np.float32)\n"
        "mean = hint_transfer._kernel_regression(one, one, np.ones((1, 2), np.float32))\n"
        "assert np.allclose(mean, 1 / (1 + hint_transfer.SHRINK)), mean\n"
        "print('solved')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "solved"
