"""When a parallel Numba loop is worth its threads.

Waking Numba's worker threads costs tens of microseconds per call (more on a busy machine, where a
worker may wait a scheduler time slice for its core), while a small elementwise pass takes a few
microseconds on one core. `launch` therefore runs the jitted parallel loop on the calling thread
alone when it touches fewer than `PARALLEL_MIN_ELEMENTS` elements. Elementwise results are the same
either way; float64 reductions (BN statistics, loss sums) may differ in the last bits, since their
partial sums follow the thread count, but a given size always takes the same path, so runs repeat.
"""

import numba

PARALLEL_MIN_ELEMENTS = 2 ** 16   # 256 KB of float32: below it, waking the pool costs more than the pass


def launch(loop, size, *args):
    """``loop(*args)``, a ``@njit(parallel=True)`` function over ``size`` elements: on all of Numba's
    threads when ``size >= PARALLEL_MIN_ELEMENTS``, otherwise on this thread only."""
    if size >= PARALLEL_MIN_ELEMENTS:
        return loop(*args)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return loop(*args)
    finally:
        numba.set_num_threads(threads)
