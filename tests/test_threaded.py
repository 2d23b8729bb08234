"""The multi-threaded path users get by default, which the rest of the suite (one TVM thread per
xdist worker, see conftest) never runs: a fresh process with ``TVM_NUM_THREADS=2`` compiles one
model of each kernel family (the one-thread run loads the artifacts the two-thread run saved),
calls it on batches just around the serial limit and the chunk
boundaries (small ``rows_per_chunk``, so several parallel tasks split each batch), and must give
the labels of scikit-learn / XGBoost and, bit for bit, the outputs of the same script run with
one thread (each row's arithmetic does not depend on which thread computes its chunk); then
eight Python threads share one model, mixing batches that take the direct single-threaded path
and batches that take the parallel VM path.
"""
import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = r'''
import json, sys, threading
import numpy as np
import xgboost
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
import tvm, cmlc

X, y = make_classification(600, 8, n_informative=5, n_classes=3, random_state=0)
Q = np.random.default_rng(1).standard_normal((1000, 8)) * 1.5
models = {
    "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
    "rf": RandomForestClassifier(20, max_depth=6, random_state=0),
    "gb": GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0),
    "hgb": HistGradientBoostingClassifier(max_iter=15, random_state=0),
    "xgb": xgboost.XGBClassifier(n_estimators=15, max_depth=4, n_jobs=1),
    "knn": KNeighborsClassifier(5),
    "svc": SVC(probability=True, random_state=0),
    "mlp": MLPClassifier((16,), max_iter=300, random_state=0),
    "gnb": GaussianNB(),
}
threads = tvm.runtime.num_threads()
BATCHES = (1, 8, 9, 16, 17, 33, 1000)   # serial limit 8, chunks of 16 rows
report = {"threads": threads, "mismatch": [], "calls": 0}
outputs = {}
folder = sys.argv[2]
for name, est in models.items():
    est.fit(X, y)
    if threads == 2:     # the one-thread run loads what the two-thread run compiled
        cm = cmlc.compile(est, options={"rows_per_chunk": 16, "serial_max_rows": 8})
        cm.save(f"{folder}/{name}.cmlc")
    cm = cmlc.load(f"{folder}/{name}.cmlc")
    for n in BATCHES:
        for dtype in (np.float64, np.float32):
            q = np.ascontiguousarray(Q[:n], dtype)
            report["calls"] += 1
            if not np.array_equal(cm.predict(q), est.predict(q)):
                report["mismatch"].append(f"{name} predict n={n} {dtype.__name__}")
            outputs[f"{name}-{n}-{dtype.__name__}"] = cm.predict_proba(q)
    if name == "rf":     # eight threads share one model: small (direct) and large (VM) batches at once
        expected = {n: cm.predict_proba(Q[:n]) for n in (3, 200, 1000)}
        errors = []
        def work(k):
            for i in range(12):
                n = (3, 200, 1000)[(k + i) % 3]
                if not np.array_equal(cm.predict_proba(Q[:n]), expected[n]):
                    errors.append((k, i, n))
        workers = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        [w.start() for w in workers]
        [w.join() for w in workers]
        report["mismatch"] += [f"shared model, thread {k} call {i} n={n}" for k, i, n in errors]
np.savez(sys.argv[1], **outputs)
print(json.dumps(report))
'''


def _run(threads: int, out) -> dict:
    env = {**os.environ, "TVM_NUM_THREADS": str(threads), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(out.parent)], env=env, capture_output=True,
                          text=True, timeout=600, cwd=out.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_thread_kernels_and_eight_threads_sharing_a_model(tmp_path):
    report = _run(2, tmp_path / "two.npz")
    assert report["threads"] == 2 and report["calls"] == 9 * 7 * 2
    assert report["mismatch"] == []
    assert _run(1, tmp_path / "one.npz")["threads"] == 1
    two, one = np.load(tmp_path / "two.npz"), np.load(tmp_path / "one.npz")
    assert sorted(two.files) == sorted(one.files) and len(two.files) == 9 * 7 * 2
    for key in two.files:
        np.testing.assert_array_equal(two[key], one[key], err_msg=key)
