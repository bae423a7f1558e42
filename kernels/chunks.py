"""Batch chunks on worker threads, for the convolutions' GEMM paths (`conv2d`, `winograd`).

The parallelism is ours, not BLAS's: each of `numba.get_num_threads()` threads takes its share of
a batch's chunks of images and runs its copies, a single-threaded GEMM and the copies back with the
GIL released; a chunk's working set is ~CHUNK_BYTES, so it is still in L3 for the GEMM. This beats
one multi-threaded GEMM over the whole batch, whose OpenBLAS workers spin between calls and split
the long, thin products (a backward-weight GEMM has K = N*Ho*Wo) badly. Chunks also avoid allocating (and page-faulting) whole-batch scratch arrays on
every call: each thread reuses its own (`scratch`).
"""

import contextlib
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import threadpoolctl

CHUNK_BYTES = 8 * 2 ** 20  # target working set of one chunk: L3-resident for the GEMM (not a sharp optimum)

_thread_local = threading.local()
_workers = {"executor": None, "size": 0}
_blas = {}


def scratch(name, shape, dtype):
    """This thread's reusable, uninitialised array ``name`` (grown when too small)."""
    buffers = _thread_local.__dict__.setdefault("buffers", {})
    size, key = int(np.prod(shape)), (name, np.dtype(dtype))
    if key not in buffers or buffers[key].size < size:
        buffers[key] = np.empty(size, dtype=dtype)
    return buffers[key][:size].reshape(shape)


@contextlib.contextmanager
def _one_blas_thread():
    """BLAS limited to one thread while the workers run their GEMMs side by side."""
    if "controller" not in _blas:
        _blas["controller"] = threadpoolctl.ThreadpoolController().select(user_api="blas")
    with _blas["controller"].limit(limits=1):
        yield


def over_image_chunks(n_img, bytes_per_image, work):
    """Call ``work(n0, n1)`` on chunks of images [n0, n1) of at most about CHUNK_BYTES each, a multiple
    of the thread count of them (64 images of 590 KB: 6 chunks of 11 or 9 images, not 14, 14, 14, 14, 8);
    returns the results in chunk order. The calling thread and up to ``numba.get_num_threads() - 1`` workers
    claim chunks one at a time, and the caller waits only for chunks already claimed: on a busy
    machine a worker can take a scheduler time slice (tens of ms) to wake up, and the caller then
    simply does the chunks itself."""
    if n_img == 0:
        return []
    threads = max(1, min(numba.get_num_threads(), n_img))
    size = max(1, min(-(-n_img // threads), CHUNK_BYTES // max(1, bytes_per_image)))
    count = -(-n_img // size)
    size = -(-n_img // (-(-count // threads) * threads))   # as many chunks per thread, of near-equal sizes
    chunks = [(n0, min(n_img, n0 + size)) for n0 in range(0, n_img, size)]
    results, errors = [None] * len(chunks), []
    claims, finished = itertools.count(), threading.Semaphore(0)

    def run():
        while (index := next(claims)) < len(chunks):
            try:
                results[index] = work(*chunks[index])
            except BaseException as exc:  # re-raised in the calling thread
                errors.append(exc)
            finally:
                finished.release()

    with _one_blas_thread():
        if threads > 1 and len(chunks) > 1:
            if _workers["size"] != threads - 1:
                _workers.update(executor=ThreadPoolExecutor(threads - 1), size=threads - 1)
            for _ in range(threads - 1):
                _workers["executor"].submit(run)
        run()
        for _ in chunks:
            finished.acquire()
    if errors:
        raise errors[0]
    return results



def sum_in_chunk_order(partials, shape, dtype):
    """The sum of the chunks' partial results, added in chunk order (so a run repeats bit for bit);
    zeros of ``shape`` for an empty batch."""
    if not partials:
        return np.zeros(shape, dtype=dtype)
    total = partials[0]
    for partial in partials[1:]:
        total += partial
    return total
