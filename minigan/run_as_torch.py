"""Run a script written for PyTorch on minigan, unchanged: ``python -m minigan.run_as_torch script.py [args]``.

``import torch`` and its submodules resolve to minigan (``minigan.torch_alias``); the script runs
as ``__main__`` with ``sys.argv`` = [script, args...].
"""

import runpy
import sys

from minigan import torch_alias


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    torch_alias.install()
    sys.argv = list(argv)
    runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
