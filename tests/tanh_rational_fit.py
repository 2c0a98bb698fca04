"""How the float tanh's coefficients in cpp/kernels/activations.hpp were found (not a test).

tanh(x) / x = P(z) / Q(z), z = x^2, degrees 5 and 4, q0 = 1, with the least maximum relative
error on [0, 9.1]: Lawson's iteration (weighted least squares of P - f Q, reweighted by each
point's error) in 40-digit arithmetic. Two minutes or so; prints the coefficients, lowest first.

    python tests/tanh_rational_fit.py [x_max] [degree_p] [degree_q]
"""

import sys

import mpmath as mp


def fit(x_max=9.1, degree_p=5, degree_q=4, points=6000, iterations=60):
    mp.mp.dps = 40
    scale = mp.mpf(x_max) ** 2
    # Chebyshev-like points, dense near both ends; z scaled to [0, 1] for the solve.
    xs = [mp.mpf(x_max) * (1 - mp.cos(mp.pi * (i + 0.5) / (2 * points))) for i in range(points)]
    zs = [x * x / scale for x in xs]
    target = [mp.tanh(x) / x for x in xs]
    weights = [mp.mpf(1) / points] * points
    q_previous = [mp.mpf(1)] * points
    for _ in range(iterations):
        rows, rhs = [], []
        for z, f, w, q in zip(zs, target, weights, q_previous):
            s = mp.sqrt(w) / (f * q)  # relative error, linearised about the last Q
            rows.append([z**k * s for k in range(degree_p + 1)] + [-f * z**k * s for k in range(1, degree_q + 1)])
            rhs.append(f * s)
        a, b = mp.matrix(rows), mp.matrix(rhs)
        solution = mp.lu_solve(a.T * a, a.T * b)
        p = [solution[k] for k in range(degree_p + 1)]
        q = [mp.mpf(1)] + [solution[degree_p + 1 + k] for k in range(degree_q)]
        q_previous = [mp.polyval(q[::-1], z) for z in zs]
        errors = [(mp.polyval(p[::-1], z) / qz - f) / f for z, qz, f in zip(zs, q_previous, target)]
        weights = [w * abs(e) for w, e in zip(weights, errors)]
        total = sum(weights)
        weights = [w / total for w in weights]
    worst = max(abs(e) for e in errors)
    return [c / scale**k for k, c in enumerate(p)], [c / scale**k for k, c in enumerate(q)], worst


if __name__ == "__main__":
    args = [float(sys.argv[1])] + [int(a) for a in sys.argv[2:4]] if len(sys.argv) > 1 else []
    p, q, worst = fit(*args)
    print("P", [mp.nstr(c, 10) for c in p])
    print("Q", [mp.nstr(c, 10) for c in q])
    print("max relative error", mp.nstr(worst, 3))
