"""``minigan bench kernels|train``: the benchmarks of the repository's ``benchmarks/`` folder.

The benchmarks are not part of the installed package (they compare against PyTorch and write
tables and plots); this module only puts them behind the ``minigan`` command, so it works from a
checkout of the repository (``python -m benchmarks.bench_kernels`` is the same thing).
"""

import sys
from pathlib import Path


def _checkout_on_path():
    """Put the repository root on sys.path: the parent of this package (an editable install)
    or the working directory, whichever holds ``benchmarks/``."""
    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (root / "benchmarks" / "bench_kernels.py").is_file():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return


def register(subparsers):
    """Add the ``bench`` subcommand and its ``kernels`` and ``train`` subcommands."""
    parser = subparsers.add_parser("bench", help="benchmark the kernels or training steps against PyTorch")
    _checkout_on_path()
    try:
        from benchmarks import bench_kernels, bench_train
    except ImportError as exc:
        reason = f"the benchmarks/ folder of the repository is not importable here ({exc}); run from a checkout"
        parser.set_defaults(run=lambda args: _unavailable(reason))
        return
    which = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    bench_kernels.add_arguments(which.add_parser("kernels", help="every kernel, every implementation, side by side"))
    bench_train.add_arguments(which.add_parser("train", help="training steps, minigan vs PyTorch"))


def _unavailable(reason):
    print(f"minigan: error: {reason}", file=sys.stderr)
    return 1
