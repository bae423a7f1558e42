"""Finite-difference gradient checking.

For a function f of tensors x₁..x_k and a fixed random cotangent v (shape of f's output), the
scalar s(x) = Σ v ⊙ f(x) has gradient ∂s/∂xᵢ = vᵀ Jᵢ, which one ``backward(v)`` computes.
Each element is compared with the central difference

    (s(x + ε e_j) − s(x − ε e_j)) / (2ε)          (error O(ε²))

and must satisfy |analytic − numeric| ≤ atol + rtol·|numeric|. Run it in float64. A function
with several outputs is checked through s = Σₖ vₖ ⊙ fₖ(x).

``gradgradcheck`` applies the same test to the first derivative itself: the map
(x, v) ↦ ∂(Σ v ⊙ f(x))/∂x, computed by ``autograd.grad(..., create_graph=True)``, is differentiated
by the engine (second order: Hessian-vector products, and the dependence on v) and by central
differences.
"""

import numpy as np

from minigan import autograd
from minigan.backend import to_device
from minigan.tensor import Tensor, tensor


class GradcheckError(AssertionError):
    """The analytic gradient of an input disagrees with its finite-difference estimate."""


def _outputs(fn, inputs):
    """fn's outputs as a tuple of Tensors (a None output, an unused gradient, is left out)."""
    outputs = fn(*inputs)
    outputs = tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)
    return tuple(o for o in outputs if o is not None)


def _scalarised(fn, inputs, cotangents):
    return sum(float((o.array * v).sum()) for o, v in zip(_outputs(fn, inputs), cotangents))


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check d fn / d inputs by central differences; True, or GradcheckError naming the worst element.

    ``inputs`` is a Tensor or a sequence of Tensors (those with ``requires_grad`` are checked;
    other entries are passed through). ``fn`` returns a Tensor or a tuple of Tensors.
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

    outputs = _outputs(fn, inputs)
    rng = np.random.default_rng(seed)
    cotangents = [to_device(rng.standard_normal(o.shape), o.device) for o in outputs]
    recorded = [(o, v) for o, v in zip(outputs, cotangents) if o.requires_grad]
    if recorded:  # an output that records nothing does not depend on any input
        autograd.backward([o for o, _ in recorded], [v for _, v in recorded])

    for i in checked:
        x = inputs[i]
        analytic = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        numeric = np.zeros(x.shape)
        flat = x.array.reshape(-1)  # a view: perturbing it perturbs x
        for j in range(flat.size):
            original = float(flat[j])
            flat[j] = original + eps
            plus = _scalarised(fn, inputs, cotangents)
            flat[j] = original - eps
            minus = _scalarised(fn, inputs, cotangents)
            flat[j] = original
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        off = ~(error <= 0)  # NaN counts as off
        if off.any():
            worst = np.unravel_index(int(np.argmax(np.where(np.isnan(error), np.inf, error))), x.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {x.shape}) element {tuple(int(k) for k in worst)}: "
                f"analytic {analytic[worst]:.10g} vs numeric {numeric[worst]:.10g} "
                f"(atol {atol}, rtol {rtol}; {int(off.sum())} of {error.size} elements off)")
    return True



def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check the second derivatives of ``fn`` by central differences (``torch.autograd.gradgradcheck``).

    The checked function is (inputs, grad_outputs) ↦ autograd.grad(fn(inputs), inputs, grad_outputs,
    create_graph=True): its derivative w.r.t. the inputs is a Hessian-vector product, and w.r.t.
    ``grad_outputs`` the Jacobian itself. ``grad_outputs`` defaults to seeded random float64
    tensors that require grad; pass your own to fix them.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("gradgradcheck: no input requires grad")
    outputs = _outputs(fn, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        grad_outputs = tuple(tensor(rng.standard_normal(o.shape), dtype=np.float64, device=o.device,
                                    requires_grad=True) for o in outputs)
    grad_outputs = (grad_outputs,) if isinstance(grad_outputs, Tensor) else tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"gradgradcheck: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")

    def first_derivative(*values):
        xs, vs = values[:len(inputs)], values[len(inputs):]
        return autograd.grad(_outputs(fn, xs), [xs[i] for i in wrt], vs, create_graph=True, allow_unused=True)

    return gradcheck(first_derivative, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
