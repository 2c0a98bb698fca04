"""Comparisons shared by the kernel tests."""

import numpy as np

# Agreement bound, per output tensor: max|actual - expected| <= tol * max(1, max|expected|).
FORWARD_TOL = {np.float32: 1e-5, np.float64: 1e-10}
GRADIENT_TOL = {np.float32: 1e-4, np.float64: 1e-10}
# Central differences with eps = 1e-6 carry ~1e-10 rounding and ~1e-12 truncation error.
FINITE_DIFFERENCE_EPS = 1e-6
FINITE_DIFFERENCE_TOL = 1e-6


def numeric_gradient(loss, array, eps=FINITE_DIFFERENCE_EPS):
    """Central differences of the scalar loss() with respect to every element of `array` (perturbed in place)."""
    gradient = np.zeros(array.shape, dtype=np.float64)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        plus = loss()
        array[index] = saved - eps
        minus = loss()
        array[index] = saved
        gradient[index] = (plus - minus) / (2 * eps)
    return gradient


def assert_close(name, actual, expected, dtype, tol):
    """Same shape, the kernel's dtype, and max|actual - expected| <= tol * max(1, max|expected|).

    NaNs must sit at the same places in both; they are left out of the maximum.
    """
    expected = np.asarray(expected, dtype=np.float64)
    assert isinstance(actual, np.ndarray), f"{name}: got {type(actual).__name__}, not an ndarray"
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == dtype, f"{name}: dtype {actual.dtype}, expected {np.dtype(dtype)}"
    nan = np.isnan(expected)
    assert np.array_equal(np.isnan(actual), nan), f"{name}: NaNs not where the reference has them"
    if expected.size == 0:
        return
    diff = np.where(nan, 0.0, np.abs(actual.astype(np.float64) - expected))
    scale = max(1.0, float(np.max(np.where(nan, 0.0, np.abs(expected)))))
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
    assert diff[worst] <= tol * scale, (
        f"{name}: max|diff| = {diff[worst]:.3g} > {tol:g} * {scale:.3g} at index {worst} "
        f"(got {float(actual[worst])!r}, expected {float(expected[worst])!r})"
    )
