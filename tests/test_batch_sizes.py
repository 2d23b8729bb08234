"""One compile serves every batch size (the batch dimension is symbolic)."""
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cmlc
from conftest import classification_data, fresh_rows


def test_batches_without_recompiling(monkeypatch):
    X, y = classification_data(4, n_features=12)
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    cm = cmlc.compile(est)
    import tvm
    calls = []
    real_compile = tvm.compile
    monkeypatch.setattr(tvm, "compile", lambda *a, **k: calls.append(1) or real_compile(*a, **k))
    cmlc.compile(est)
    assert calls == [1]          # the spy sees cmlc's builds: a build at call time would show
    for n in (1, 7, 63, 64, 65, 1000, 100_000):
        Xn = fresh_rows(X, n=n, seed=n)
        np.testing.assert_array_equal(cm.predict(Xn), est.predict(Xn))
        np.testing.assert_allclose(cm.predict_proba(Xn), est.predict_proba(Xn), rtol=1e-12, atol=1e-15)
    assert calls == [1]
