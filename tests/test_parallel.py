"""kernels.parallel.launch: small passes on the calling thread only, same results, thread count restored."""

import numba
import numpy as np
import pytest

from minigan.kernels import adam_step, batch_norm_forward_train, parallel


def _adam_and_batch_norm(seed):
    """One Adam step and one batch-norm forward on odd-sized random data (and that data's x)."""
    rng = np.random.default_rng(seed)
    param, grad = rng.standard_normal((2, 7, 13), dtype=np.float32)
    m, v = rng.standard_normal((7, 13), dtype=np.float32), rng.uniform(0.1, 1, (7, 13)).astype(np.float32)
    adam_step(param, grad, m, v, 3, 1e-3, 0.5, 0.999, 1e-8, 0.01)
    x = rng.standard_normal((3, 5, 11)).astype(np.float32)
    return (param, m, v), batch_norm_forward_train(x, np.ones(5, np.float32), np.zeros(5, np.float32), 1e-5), x


def test_serial_and_parallel_paths_agree(monkeypatch):
    monkeypatch.setattr(parallel, "PARALLEL_MIN_ELEMENTS", 0)               # every pass on all threads
    adam_parallel, bn_parallel, _ = _adam_and_batch_norm(4)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_ELEMENTS", 2 ** 40)         # every pass on this thread
    adam_serial, bn_serial, x = _adam_and_batch_norm(4)
    for a, b in zip(adam_parallel, adam_serial):
        np.testing.assert_array_equal(a, b)                                 # elementwise: bit for bit
    for a, b in zip(bn_parallel, bn_serial):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)              # reductions: sum order may differ
    y, mean, _ = bn_serial
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.mean(axis=(0, 2)), 0, atol=1e-5)


def test_small_pass_runs_on_one_thread_and_restores_the_count():
    seen = []

    def loop(values):
        seen.append(numba.get_num_threads())
        raise RuntimeError("boom")

    before = numba.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"):
        parallel.launch(loop, 10, None)
    assert seen == [1]
    assert numba.get_num_threads() == before
    parallel.launch(lambda values: seen.append(numba.get_num_threads()), parallel.PARALLEL_MIN_ELEMENTS, None)
    assert seen[-1] == before


def _run_python(code, **env):
    """Run ``code`` in a fresh interpreter (the environment is read once per process); its stdout."""
    import os
    import subprocess
    import sys
    environ = {k: v for k, v in os.environ.items()
               if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_THREADING_LAYER")} | env
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


CHECK = ("import os, numpy as np, numba, minigan.kernels as k; "
         "y = k.relu_forward(np.arange(-2**17, 2**17, dtype=np.float32)); assert y.min() == 0 and y.max() == 2**17 - 1; "
         "print(os.environ['OMP_WAIT_POLICY'], os.environ['GOMP_SPINCOUNT'], numba.threading_layer())")


def test_import_minigan_sets_passive_openmp_before_any_runtime_loads():
    assert _run_python("import minigan; " + CHECK)[:2] == ["PASSIVE", "0"]


def test_an_explicit_environment_wins():
    assert _run_python("import minigan; " + CHECK, OMP_WAIT_POLICY="ACTIVE", GOMP_SPINCOUNT="7")[:2] == ["ACTIVE", "7"]


def test_torch_imported_first_moves_numba_to_its_own_thread_pool():
    pytest.importorskip("torch")
    default_layer = _run_python("import minigan; " + CHECK)[2]        # without torch
    assert _run_python("import minigan, torch; " + CHECK)[2] == default_layer
    assert _run_python("import torch, minigan; " + CHECK) == ["PASSIVE", "0", "workqueue"]
