"""Parity of the kernel sets with the contract in docs/kernel_api.md.

The contract's signatures are read from the document itself; `minigan.reference` must match them,
and every kernel set must export each name with the reference's parameter names. Add a kernel set
by adding its loader to KERNEL_SETS.
"""

import importlib
import inspect
import re
from pathlib import Path

import pytest

from minigan import reference

KERNEL_SETS = {
    "reference": lambda: reference,
    "numba": lambda: importlib.import_module("minigan.kernels"),
    # signatures only: building the set compiles nothing, so no GPU or compiler is needed
    "cuda-sim": lambda: importlib.import_module("minigan.cuda_kernels").kernel_set("cuda-sim"),
}

DOC = Path(__file__).resolve().parents[1] / "docs" / "kernel_api.md"
SIGNATURE = r"`(\w+)\(([\w, ]*)\)`"
# a table row's first cell: `name(a, b)`, or a forward / backward pair `f(a)` / `g(b, a)`
FIRST_CELL = re.compile(rf"^\|\s*{SIGNATURE}(?:\s*/\s*{SIGNATURE})?", re.MULTILINE)


def documented_signatures():
    """{name: [parameter names]} for every signature that opens a row of the contract's tables."""
    signatures = {}
    for match in FIRST_CELL.finditer(DOC.read_text()):
        names_and_params = [g for g in match.groups() if g is not None]
        for name, params in zip(names_and_params[::2], names_and_params[1::2]):
            signatures[name] = [p.strip() for p in params.split(",") if p.strip()]
    return signatures


def parameter_names(fn):
    return list(inspect.signature(fn).parameters)


@pytest.fixture(scope="module", params=list(KERNEL_SETS))
def kernel_set(request):
    return KERNEL_SETS[request.param]()


def test_reference_api_is_the_documented_contract():
    documented = documented_signatures()
    assert len(documented) >= 30
    assert sorted(reference.KERNEL_API) == sorted(documented)
    for name, params in documented.items():
        assert parameter_names(getattr(reference, name)) == params, name


def test_reference_functions_state_their_formula():
    for name in reference.KERNEL_API:
        doc = inspect.getdoc(getattr(reference, name)) or ""
        assert "=" in doc or "<-" in doc, f"{name} docstring carries no formula"


@pytest.mark.parametrize("name", reference.KERNEL_API)
def test_kernel_set_exports_the_api(kernel_set, name):
    fn = getattr(kernel_set, name, None)
    assert callable(fn), f"{kernel_set!r} lacks {name}"
    assert parameter_names(fn) == parameter_names(getattr(reference, name))


@pytest.mark.parametrize("suffix", ["_direct", "_im2col"])
def test_variants_share_the_signature(kernel_set, suffix):
    variants = [n for n in dir(kernel_set) if n.endswith(suffix) and not n.startswith("_") and callable(getattr(kernel_set, n))]
    for name in variants:
        plain = name[: -len(suffix)]
        assert plain in reference.KERNEL_API, f"{name} is the variant of no API function"
        assert parameter_names(getattr(kernel_set, name)) == parameter_names(getattr(reference, plain))


def test_numba_set_has_direct_and_im2col_convolutions():
    kernels = KERNEL_SETS["numba"]()
    for name in ("conv2d_forward", "conv2d_backward_data", "conv2d_backward_weight"):
        assert callable(getattr(kernels, name + "_direct", None))
        assert callable(getattr(kernels, name + "_im2col", None))
