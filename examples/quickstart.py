"""cmlc quickstart: compile a scikit-learn pipeline, check it answers exactly like scikit-learn,
and measure how much faster it is.

Fits StandardScaler + LogisticRegression on the digits dataset that scikit-learn ships (1,797
images, 64 features, 10 classes), compiles it for this CPU, checks labels (identical) and
probabilities (within 1e-9) on held-out rows and on 100,000 noisy resampled rows, then times
``predict_proba`` and ``predict`` at batch 1, 1,000 and 100,000 against scikit-learn.

Run: python examples/quickstart.py [--repeats N]
"""
import argparse
import statistics
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cmlc


def median_seconds(fn, X, repeats):
    fn(X)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(X)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per batch size (median reported)")
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X_train, y_train)

    t0 = time.perf_counter()
    compiled = cmlc.compile(model, target="llvm")
    print(f"compiled {compiled!r} in {time.perf_counter() - t0:.2f} s")

    rng = np.random.default_rng(0)
    X_big = X[rng.integers(0, len(X), 100_000)] + rng.normal(0, 0.5, (100_000, X.shape[1]))
    ok = True
    for name, data in (("held-out digits", X_test), ("100,000 noisy rows", X_big)):
        same = np.array_equal(compiled.predict(data), model.predict(data))
        err = float(np.abs(compiled.predict_proba(data) - model.predict_proba(data)).max())
        print(f"check on {name}: labels identical: {same}, max |proba difference|: {err:.1e}")
        ok &= same and err < 1e-9
    print(f"accuracy on held-out digits: {np.mean(compiled.predict(X_test) == y_test):.3f}")

    # Each system is timed on its own: BLAS threads that scikit-learn's calls leave spinning
    # would otherwise take a core from cmlc's thread pool (and cmlc's from BLAS).
    cases = [(method, batch) for method in ("predict_proba", "predict") for batch in (1, 1_000, 100_000)]
    timings = {}
    for name, system in (("scikit-learn", model), ("cmlc", compiled)):
        time.sleep(0.5)  # let the other system's worker threads go idle
        for method, batch in cases:
            repeats = args.repeats if batch < 100_000 else max(3, args.repeats // 3)
            timings[name, method, batch] = median_seconds(getattr(system, method), X_big[:batch], repeats)
    print(f"\n{'method':<14}{'batch':>8}{'scikit-learn':>15}{'cmlc':>12}{'speedup':>10}")
    for method, batch in cases:
        t_sk, t_cm = timings["scikit-learn", method, batch], timings["cmlc", method, batch]
        print(f"{method:<14}{batch:>8,}{t_sk * 1e3:>13.3f}ms{t_cm * 1e3:>10.3f}ms{t_sk / t_cm:>9.1f}x")
    if not ok:
        print("MISMATCH: cmlc's answers differ from scikit-learn's", file=sys.stderr)
        return 1
    print("\nOK: cmlc answers exactly like scikit-learn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
