"""The torch frontend against torch itself, and hybrid torch + scikit-learn pipelines against
running torch and scikit-learn back to back.

Modules compute in float32 in both systems, with different summation orders: outputs agree
within 1e-5 relative (``RTOL``) and 1e-6 absolute (``ATOL``, the float32 rounding of values of
size ~1). Hybrid pipelines give identical labels; their probabilities agree within 1e-5
(scikit-learn keeps float32 through some steps where cmlc computes in float64).
"""
import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import cmlc  # noqa: E402
import conformance  # noqa: E402
from cmlc import TorchTransformer  # noqa: E402
from cmlc.errors import InputError, UnsupportedModelError  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6


class Residual(nn.Module):
    """LayerNorm, GELU (exact and tanh), SiLU, a residual add and a concat of two branches."""

    def __init__(self, d=12):
        super().__init__()
        self.norm, self.a, self.b = nn.LayerNorm(d), nn.Linear(d, d), nn.Linear(d, 5)

    def forward(self, x):
        h = self.norm(x)
        h = h + nn.functional.gelu(self.a(h))
        return torch.cat([nn.functional.silu(self.b(h)), nn.functional.gelu(h[:, :3], approximate="tanh"),
                          torch.tanh(h[:, 3:5]) * torch.sigmoid(h[:, 5:7])], dim=1)


class Permuted(nn.Module):
    """reshape / permute / flatten of a row, then a matmul over the last axis."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 4)

    def forward(self, x):                       # x (N, 12)
        h = x.reshape(x.shape[0], 4, 3).permute(0, 2, 1)       # (N, 3, 4)
        return self.lin(h.transpose(1, 2)).flatten(1).softmax(dim=-1)


class Bag(nn.Module):
    """Embedding of integer tokens, averaged, then a linear layer."""

    def __init__(self, vocab=20, d=6):
        super().__init__()
        self.emb, self.out = nn.Embedding(vocab, d), nn.Linear(d, 3)

    def forward(self, idx):                     # idx (N, L) int64
        return self.out(self.emb(idx).mean(dim=1))


def _cnn2d():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, stride=1, padding=1, groups=2), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Dropout(0.3), nn.Linear(24, 10))


def _cnn1d():
    return nn.Sequential(nn.Conv1d(2, 5, 3, dilation=2, padding=2), nn.BatchNorm1d(5), nn.SiLU(),
                         nn.MaxPool1d(3, stride=2, ceil_mode=True), nn.Conv1d(5, 4, 2), nn.Tanh(),
                         nn.AdaptiveAvgPool1d(3), nn.Flatten(), nn.Softmax(dim=1))


def _mlp():
    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 8), nn.LeakyReLU(0.1),
                         nn.Linear(8, 4), nn.Sigmoid())


MODULES = {
    # name: (factory, row shape, integer vocabulary or None for float input)
    "mlp": (_mlp, (10,), None),
    "cnn2d": (_cnn2d, (1, 8, 8), None),
    "cnn1d": (_cnn1d, (2, 15), None),
    "residual-layernorm": (Residual, (12,), None),
    "permute-reshape": (Permuted, (12,), None),
    "embedding-bag": (Bag, (7,), 20),
}


def _trained(factory, seed=0):
    """A module with random (not default-initialized) batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    module = factory()
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return module.eval()


def _rows(shape, vocab, n, seed):
    rng = np.random.default_rng(seed)
    if vocab is not None:
        return rng.integers(0, vocab, (n, *shape))
    return rng.standard_normal((n, *shape)).astype(np.float32)


def _torch_out(module, X):
    with torch.no_grad():
        return module(torch.as_tensor(X)).reshape(len(X), -1).numpy()


@functools.lru_cache(maxsize=None)
def _compiled(name):
    factory, shape, vocab = MODULES[name]
    module = _trained(factory)
    return module, cmlc.compile(module, example_input=_rows(shape, vocab, 4, 0))


@pytest.mark.parametrize("name", MODULES)
def test_module_matches_torch(name):
    module, cm = _compiled(name)
    _, shape, vocab = MODULES[name]
    X = _rows(shape, vocab, 257, seed=1)
    expected = _torch_out(module, X)
    for rows in (X, X[:1]):
        got = cm.transform(rows.reshape(len(rows), -1))
        assert got.dtype == expected.dtype and got.shape == (len(rows), expected.shape[1])
        np.testing.assert_allclose(got, expected[:len(rows)], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(cm.transform(X), expected, rtol=RTOL, atol=ATOL)      # (N, *row_shape) input
    np.testing.assert_allclose(cm.transform(torch.as_tensor(X)), expected, rtol=RTOL, atol=ATOL)


def test_embedding_refuses_indices_outside_the_table():
    module, cm = _compiled("embedding-bag")
    X = _rows((7,), 20, 5, seed=2)
    X[3, 2] = 20
    with pytest.raises(IndexError):
        _torch_out(module, X)
    with pytest.raises(InputError, match="nn.Embedding"):
        cm.transform(X)


def test_unsupported_op_is_named():
    class Sorts(nn.Module):
        def forward(self, x):
            return torch.sort(x, dim=1).values

    with pytest.raises(UnsupportedModelError, match="sort"):
        cmlc.compile(Sorts(), example_input=np.zeros((2, 4), np.float32))


def test_batch_mixing_module_is_refused():
    class MixesRows(nn.Module):
        def forward(self, x):
            return x - x.mean(dim=0, keepdim=True)

    with pytest.raises(UnsupportedModelError, match="batch|row"):
        cmlc.compile(MixesRows(), example_input=np.zeros((2, 4), np.float32))


def test_bare_module_needs_its_input_shape():
    with pytest.raises(UnsupportedModelError, match="example_input"):
        cmlc.compile(_mlp())


@functools.lru_cache(maxsize=None)
def _digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32) / 16.0, y


def _feature_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64, 16), nn.Tanh()).eval()


HEADS = {
    "scaler-logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    "forest": lambda: RandomForestClassifier(20, max_depth=6, random_state=0),
}


SUITE = conformance.Suite(__name__)
HYBRIDS = {head: SUITE.add(f"Pipeline-TorchTransformer-{head}", lambda make=make: make_pipeline(
    TorchTransformer(_feature_net(), input_shape=(1, 8, 8)), make())) for head, make in HEADS.items()}


@pytest.mark.parametrize("head", HYBRIDS)
def test_hybrid_pipeline_is_one_module_and_matches(head):
    X, y = _digits()
    pipe = HYBRIDS[head].make().fit(X[:1200], y[:1200])
    cm = cmlc.compile(pipe)
    ops = {node.op for node in cm.graph.nodes}
    assert cmlc.ecg.Op.CONV in ops           # the torch part and the sklearn part are one graph ...
    assert len(cm.graph.inputs) == 1          # ... with one input, built into one Relax module
    Xt = X[1200:]
    np.testing.assert_array_equal(cm.predict(Xt), pipe.predict(Xt))
    np.testing.assert_allclose(cm.predict_proba(Xt), pipe.predict_proba(Xt), rtol=RTOL, atol=1e-5)


def test_list_of_models_compiles_as_a_chain():
    """``cmlc.compile([module, fitted_pipeline], example_input=...)`` is the Pipeline of both."""
    X, y = _digits()
    net = _feature_net()
    features = TorchTransformer(net, input_shape=(1, 8, 8)).fit(X).transform(X)
    head = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features[:1200], y[:1200])
    cm = cmlc.compile([net, head], example_input=X[:2].reshape(2, 1, 8, 8))
    np.testing.assert_array_equal(cm.predict(X[1200:]), head.predict(features[1200:]))


def test_saved_hybrid_loads_and_answers(tmp_path):
    X, y = _digits()
    pipe = make_pipeline(TorchTransformer(_feature_net(), input_shape=(1, 8, 8)), LogisticRegression(max_iter=500))
    pipe.fit(X[:600], y[:600])
    path = tmp_path / "hybrid.cmlc"
    cmlc.compile(pipe).save(path)
    loaded = cmlc.load(path)
    np.testing.assert_array_equal(loaded.predict(X[600:]), pipe.predict(X[600:]))
    np.testing.assert_array_equal(loaded.predict(X[600:].reshape(-1, 1, 8, 8)), pipe.predict(X[600:]))


@pytest.mark.slow
def test_deployment_script_runs_end_to_end(tmp_path):
    """examples/hybrid_pipeline.py: train, compile, save, score a CSV in a fresh process, check."""
    import subprocess
    import sys
    from pathlib import Path
    script = Path(__file__).resolve().parents[1] / "examples" / "hybrid_pipeline.py"
    done = subprocess.run([sys.executable, str(script), "--rows", "600", "--epochs", "1", "--repeats", "1",
                           "--batch-file", str(tmp_path / "batch.csv"), "--artifact", str(tmp_path / "m.cmlc")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "labels identical to torch + scikit-learn on 600 rows: True" in done.stdout
    assert "[scoring process] loaded" in done.stdout and (tmp_path / "m.cmlc").exists()
