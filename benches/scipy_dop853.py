#!/usr/bin/env python3
"""SciPy's DOP853 on the orbit of `benches/orbit.rs`, for a side-by-side figure.

Run by hand (not in CI; it needs SciPy: `pip install scipy`):

    python3 benches/scipy_dop853.py [ORBITS] [REPEATS]

The orbit is the bench's: point mass, mu = 398600.4418 km^3/s^2, a = 7,000 km,
e = 0.1, i = 53 degrees, starting at perigee; `solve_ivp(method="DOP853", rtol=1e-12,
atol=1e-12)` over ORBITS periods (default 20), once with one output per orbit (the
integration alone) and once with the states sampled every 10 s (`t_eval`), as the
two cases of `cargo bench --bench orbit`. Times are the process's CPU time
(`time.process_time`), the median of REPEATS (default 5) runs, so that they compare
with the Rust bench's thread CPU time on a machine shared with other work. The
position error after a whole number of periods (where the exact orbit is back at
its start) shows both integrators did the same work to the same accuracy.

The tolerance is the same number, but not quite the same norm: SciPy scales the
error by `atol + rtol * max(|y_old|, |y_new|)` per component, as Hairer's DOP853
does, which is what `pipeline/src/orbit/dop853.rs` implements; the step counts
printed below let the reader compare the work.
"""

import math
import statistics
import sys
import time

import numpy as np
from scipy.integrate import solve_ivp

MU = 398600.4418
A_KM = 7000.0
E = 0.1
I_DEG = 53.0
TOL = 1e-12


def initial_state():
    """Elements to state (docs/orbits.md) at perigee, raan = argp = 0."""
    p = A_KM * (1.0 - E * E)
    r = p / (1.0 + E)
    v = math.sqrt(MU / p) * (E + 1.0)
    i = math.radians(I_DEG)
    return np.array([r, 0.0, 0.0, 0.0, v * math.cos(i), v * math.sin(i)])


def two_body(_t, y):
    x, yy, z = y[0], y[1], y[2]
    r2 = x * x + yy * yy + z * z
    k = -MU / (r2 * math.sqrt(r2))
    return [y[3], y[4], y[5], k * x, k * yy, k * z]


def run(orbits, t_eval):
    period = 2.0 * math.pi * math.sqrt(A_KM**3 / MU)
    y0 = initial_state()
    start = time.process_time()
    sol = solve_ivp(
        two_body,
        (0.0, orbits * period),
        y0,
        method="DOP853",
        rtol=TOL,
        atol=TOL,
        t_eval=t_eval(orbits, period),
    )
    cpu = time.process_time() - start
    assert sol.success, sol.message
    error_m = float(np.linalg.norm(sol.y[:3, -1] - y0[:3])) * 1000.0
    return cpu, sol, error_m


def main():
    orbits = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    cases = [
        ("integration", lambda n, period: period * np.arange(1, n + 1)),
        ("sampled every 10 s", lambda n, period: np.append(np.arange(0.0, n * period, 10.0), n * period)),
    ]
    print(f"scipy {__import__('scipy').__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    print(f"DOP853 rtol=atol={TOL}, a={A_KM} km, e={E}, {orbits} orbits, median of {repeats}")
    for name, t_eval in cases:
        times = []
        for _ in range(repeats):
            cpu, sol, error_m = run(orbits, t_eval)
            times.append(cpu)
        median = statistics.median(times)
        print(
            f"{name}: {median / orbits * 1e6:.0f} us an orbit ({orbits / median:.1f} orbits/s), "
            f"{sol.nfev} evaluations ({sol.nfev / orbits:.0f} an orbit), {len(sol.t)} outputs, "
            f"position error after {orbits} orbits {error_m:.3g} m; runs {', '.join(f'{t:.3f}' for t in times)} s"
        )


if __name__ == "__main__":
    main()
