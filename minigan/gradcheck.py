"""Finite-difference gradient checking.

For a function f of tensors x₁..x_k and a fixed random cotangent v (shape of f's output), the
scalar s(x) = Σ v ⊙ f(x) has gradient ∂s/∂xᵢ = vᵀ Jᵢ, which one ``backward(v)`` computes.
Each element is compared with the central difference

    (s(x + ε e_j) − s(x − ε e_j)) / (2ε)          (error O(ε²))

and must satisfy |analytic − numeric| ≤ atol + rtol·|numeric|. Run it in float64.
"""

import numpy as np

from minigan.backend import to_device
from minigan.tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic gradient of an input disagrees with its finite-difference estimate."""


def _scalarised(fn, inputs, cotangent):
    output = fn(*inputs)
    return output, float((output.array * cotangent).sum())


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check d fn / d inputs by central differences; True, or GradcheckError naming the worst element.

    ``inputs`` is a Tensor or a sequence of Tensors (those with ``requires_grad`` are checked;
    other entries are passed through). ``fn`` must return one Tensor.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype.name}; finite differences need float64")
        if not inputs[i].array.flags.c_contiguous:  # perturbations go through a flat view of the data
            raise ValueError(f"gradcheck: input {i} (shape {inputs[i].shape}) is not contiguous; pass a copy")
        inputs[i].grad = None

    output = fn(*inputs)
    rng = np.random.default_rng(seed)
    cotangent = to_device(rng.standard_normal(output.shape), output.device)
    output.backward(cotangent)

    for i in checked:
        x = inputs[i]
        analytic = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        numeric = np.zeros(x.shape)
        flat = x.array.reshape(-1)  # a view: perturbing it perturbs x
        for j in range(flat.size):
            original = float(flat[j])
            flat[j] = original + eps
            plus = _scalarised(fn, inputs, cotangent)[1]
            flat[j] = original - eps
            minus = _scalarised(fn, inputs, cotangent)[1]
            flat[j] = original
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if error.size and error.max() > 0:
            worst = np.unravel_index(int(np.argmax(error)), x.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {x.shape}) element {tuple(int(k) for k in worst)}: "
                f"analytic {analytic[worst]:.10g} vs numeric {numeric[worst]:.10g} "
                f"(atol {atol}, rtol {rtol}; {int((error > 0).sum())} of {error.size} elements off)")
    return True

