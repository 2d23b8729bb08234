"""The CUDA target: codegen everywhere, the GPU schedules' arithmetic on the CPU, running on a GPU.

(a) codegen: one model of every family (every tree lowering included) compiles for
    {"kind": "cuda", "arch": "sm_80"}; nvcc accepts its source for sm_80 and sm_90 (``--cubin``,
    so ptxas runs too); the source TVM writes does not depend on the arch.
(b) the GPU schedules unbound (``GpuKnobs(bind=False)``: the same loop nests, serial) built for
    the host CPU give the reference's answers: the index arithmetic of every CUDA kernel is
    checked without a GPU.
(c) without a GPU: compile, save and load work; every method raises DeviceNotFoundError naming
    the fix. Host DLPack input (torch CPU tensors, TVM tensors) reaches the CPU kernels zero-copy;
    GPU input to a CPU model is refused.
(d) ``gpu``-marked (skipped with the reason when there is no CUDA device): every family runs on
    the GPU and matches the reference, with numpy and torch CUDA tensors as input.
"""
import functools
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
from sklearn import cluster, decomposition, ensemble, linear_model, naive_bayes, neighbors, neural_network, svm
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cmlc
from cmlc.devices import CudaPlacement, ensure_cuda_compiler
from cmlc.ecg import Op
from cmlc.errors import DeviceNotFoundError, InputError, TargetError
from cmlc.kernels import GpuKnobs
from cmlc.runtime import CompiledModel
from cmlc.runtime.inputs import address, check_input
from cmlc.target import cuda_source, host_target, resolve_target, target_to_json
from cmlc.translate import BACKENDS, build
from conftest import classification_data, fresh_rows, regression_data

ARCHS = ("sm_80", "sm_90")
NVCC = shutil.which("nvcc") or next((p for p in ("/usr/local/cuda/bin/nvcc",) if os.path.exists(p)), None)
NO_GPU_REASON = CudaPlacement().unavailable_reason()
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found (install the CUDA toolkit to check CUDA codegen)")
needs_gpu = pytest.mark.skipif(NO_GPU_REASON is not None, reason=f"needs a CUDA GPU: {NO_GPU_REASON}")
without_gpu = pytest.mark.skipif(NO_GPU_REASON is None, reason="checks the behaviour on a machine without a CUDA GPU")


@dataclass(frozen=True)
class Case:
    """One model: ``make()`` -> unfitted estimator, fitted on ``data`` ("classify", "regress",
    "nan": 3-class data with NaN); compared on ``methods`` (labels exactly, values within ``atol``)."""

    make: Callable
    data: str = "classify"  # or "binary", "regress", "nan", "sparse" (see data())
    methods: tuple = ("predict", "predict_proba")
    options: dict = field(default_factory=dict)
    atol: float = 1e-9


def _xgb_classifier():
    xgb = pytest.importorskip("xgboost")
    return xgb.XGBClassifier(n_estimators=8, max_depth=3, random_state=0)


def _catboost_classifier():
    cb = pytest.importorskip("catboost")
    return cb.CatBoostClassifier(iterations=8, depth=4, verbose=0, random_seed=0, allow_writing_files=False)


def _trees(name, make, data="classify", methods=("predict", "predict_proba")):
    return {f"{name}-{s}": Case(make, data, methods, {"tree_strategy": s}) for s in ("perfect", "traversal", "gemm")}


CASES = {
    "LogisticRegression": Case(lambda: linear_model.LogisticRegression(max_iter=500),
                               methods=("predict", "predict_proba", "decision_function")),
    "LinearRegression": Case(linear_model.LinearRegression, "regress", ("predict",)),
    "StandardScaler-LogisticRegression": Case(lambda: make_pipeline(StandardScaler(), linear_model.LogisticRegression())),
    **_trees("RandomForestClassifier", lambda: ensemble.RandomForestClassifier(n_estimators=6, max_depth=5, random_state=0)),
    **_trees("GradientBoostingClassifier", lambda: ensemble.GradientBoostingClassifier(n_estimators=5, max_depth=3, random_state=0)),
    **_trees("XGBClassifier", _xgb_classifier),
    **_trees("HistGradientBoostingClassifier-nan",
             lambda: ensemble.HistGradientBoostingClassifier(max_iter=6, random_state=0), "nan"),
    # oblivious trees: the perfect walk's per-level variant (kernels/trees.py, _oblivious_func)
    "CatBoostClassifier-perfect": Case(_catboost_classifier, options={"tree_strategy": "perfect"}),
    # two classes: a 3-class SVC's probability graph (pairwise coupling) takes minutes to build
    "SVC-rbf": Case(lambda: svm.SVC(kernel="rbf", probability=True, random_state=0), "binary",
                    methods=("predict", "predict_proba", "decision_function"), atol=1e-7),
    "GaussianNB": Case(naive_bayes.GaussianNB),
    # the fused distance top-k (kernels/nearest.py): differences form (a KD tree's), GEMM form (brute force)
    "KNeighborsClassifier": Case(lambda: neighbors.KNeighborsClassifier(n_neighbors=5)),
    "KNeighborsClassifier-brute": Case(lambda: neighbors.KNeighborsClassifier(n_neighbors=5, algorithm="brute")),
    "MLPClassifier": Case(lambda: neural_network.MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0),
                          atol=1e-7),
    "KMeans": Case(lambda: cluster.KMeans(n_clusters=4, n_init=2, random_state=0), methods=("predict", "transform")),
    "PCA": Case(lambda: decomposition.PCA(n_components=3), "regress", ("transform",)),
    "L1-LogisticRegression-spmm": Case(
        lambda: linear_model.LogisticRegression(penalty="l1", solver="liblinear", C=0.05), "sparse",
        ("predict", "predict_proba", "decision_function")),
}
#: compiled for sm_90 as well, to check the source does not change with the arch
ARCH_CHECKED = ("LogisticRegression", "RandomForestClassifier-perfect", "XGBClassifier-traversal",
                "KNeighborsClassifier", "L1-LogisticRegression-spmm")


@functools.cache
def data(kind):
    """(X_train, y_train, X_test) of ``kind``."""
    if kind == "regress":
        X, y = regression_data(n_samples=200, n_features=6)
    elif kind == "binary":
        X, y = classification_data(2, n_samples=200, n_features=6)
    elif kind == "sparse":  # L1 regression on many features: a weight > 90% zeros -> CSR SpMM
        X, y = classification_data(2, n_samples=400, n_features=300, seed=3)
    else:
        X, y = classification_data(3, n_samples=240, n_features=6)
    Xt = fresh_rows(X, n=150)
    if kind == "nan":
        rng = np.random.default_rng(7)
        X, Xt = X.copy(), Xt.copy()
        X[rng.random(X.shape) < 0.1] = np.nan
        Xt[rng.random(Xt.shape) < 0.2] = np.nan
    return X, y, Xt


@functools.cache
def fitted(name):
    case = CASES[name]
    X, y, _ = data(case.data)
    return case.make().fit(X, y)


@functools.cache
def compiled(name, arch="sm_80"):
    return cmlc.compile(fitted(name), target={"kind": "cuda", "arch": arch}, options=CASES[name].options or None)


def assert_matches_reference(name, cm, X):
    """``cm``'s methods on ``X`` against the fitted estimator's (for float32 ``X``, scikit-learn
    computes some outputs in float32: the tolerance is float32's)."""
    case, est = CASES[name], fitted(name)
    for method in case.methods:
        got, expected = getattr(cm, method)(X), getattr(est, method)(X)
        got = got.cpu().numpy() if hasattr(got, "cpu") else got
        assert got.shape == expected.shape and got.dtype == expected.dtype, method
        if method == "predict" and expected.dtype.kind in "iuOU":
            np.testing.assert_array_equal(got, expected, err_msg=method)
        else:
            if X.dtype == np.float32:
                rtol, atol = 1e-5, 1e-5
            else:  # float32 outputs (XGBoost): a few ulps of summation order
                rtol, atol = (1e-7 if expected.dtype == np.float64 else 1e-6), case.atol
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=method)


# ---------------------------------------------------------------------------------------------
# (a) codegen

def nvcc_fatbin(source: str, tmp_path) -> bytes:
    """``source`` through nvcc (and ptxas) for every arch of ``ARCHS`` in one call."""
    src = tmp_path / "kernels.cu"
    src.write_text(source)
    out = tmp_path / "kernels.fatbin"
    gencode = [f"-gencode=arch=compute_{a[3:]},code={a}" for a in ARCHS]
    proc = subprocess.run([NVCC, "--fatbin", "-O3", *gencode, "--expt-relaxed-constexpr", "-o", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"nvcc {' '.join(gencode)} rejected the source:\n{proc.stderr[-4000:]}"
    return out.read_bytes()


@needs_nvcc
@pytest.mark.parametrize("name", CASES)
def test_nvcc_accepts_cuda_source(name, tmp_path):
    cm = compiled(name)
    assert json.loads(cm.target)["arch"] == "sm_80"
    source = cuda_source(cm)
    assert "__global__" in source and "blockIdx.x" in source and "threadIdx.x" in source
    assert len(nvcc_fatbin(source, tmp_path)) > 0


@needs_nvcc
def test_nvcc_accepts_rows_per_thread(tmp_path):
    """A per-thread tile of rows: a serial loop of rows inside each bound thread."""
    cm = compiled("MLPClassifier")
    executable = build(cm.graph, resolve_target({"kind": "cuda", "arch": "sm_80"}), GpuKnobs(rows_per_thread=4),
                       backend=BACKENDS["cuda"])
    source = cuda_source(CompiledModel(executable, cm.manifest))
    assert source != cuda_source(cm) and len(nvcc_fatbin(source, tmp_path)) > 0


@pytest.mark.parametrize("name", ARCH_CHECKED)
def test_cuda_source_does_not_depend_on_arch(name):
    assert cuda_source(compiled(name, "sm_90")) == cuda_source(compiled(name, "sm_80"))


def test_tree_strategies_and_spmm_reach_the_cuda_build():
    """The cases above cover what they claim: distinct tree kernels, and the CSR SpMM."""
    sources = {s: cuda_source(compiled(f"RandomForestClassifier-{s}")) for s in ("perfect", "traversal", "gemm")}
    assert len(set(sources.values())) == 3
    assert any(n.op is Op.SPARSE_MATMUL for n in compiled("L1-LogisticRegression-spmm").graph.nodes)
    forms = {name: [n.attrs["form"] for n in compiled(name).graph.nodes if n.op is Op.NEAREST]
             for name in ("KNeighborsClassifier", "KNeighborsClassifier-brute")}
    assert forms == {"KNeighborsClassifier": ["differences"], "KNeighborsClassifier-brute": ["gemm"]}


def test_rounded_products_reach_the_cuda_build():
    """libsvm's sums multiply with __dmul_rn, which nvcc never fuses into an FMA (kernels/rounding.py)."""
    assert "__dmul_rn(" in cuda_source(compiled("SVC-rbf"))
    assert "__dmul_rn(" not in cuda_source(compiled("LogisticRegression"))


def test_cuda_source_of_a_cpu_model_is_refused():
    X, y, _ = data("classify")
    with pytest.raises(TargetError, match="CPU"):
        cuda_source(cmlc.compile(linear_model.LogisticRegression().fit(X, y)))


# ---------------------------------------------------------------------------------------------
# (b) the GPU schedules' arithmetic, unbound, on the CPU

def unbound_gpu_build(cm: CompiledModel) -> CompiledModel:
    """``cm``'s graph built with the CUDA backend's schedules, loops left serial, for the host CPU."""
    executable = build(cm.graph, host_target(), GpuKnobs(bind=False), backend=BACKENDS["cuda"])
    return CompiledModel(executable, host_manifest(cm))


def host_manifest(cm: CompiledModel) -> dict:
    """``cm``'s manifest for a build of its float64 graph alone, for the host CPU, without serial twins."""
    return {**cm.manifest, "target": target_to_json(host_target()), "serial_max_rows": 0, "input_dtypes": ["float64"]}


@pytest.mark.parametrize("name", CASES)
def test_unbound_gpu_schedule_matches_reference_on_cpu(name):
    cm = unbound_gpu_build(compiled(name))
    _, _, Xt = data(CASES[name].data)
    assert_matches_reference(name, cm, Xt)
    assert_matches_reference(name, cm, Xt[:1])


@pytest.mark.parametrize("rows_per_thread", [1, 3])
@pytest.mark.parametrize("name", ["RandomForestClassifier-traversal", "KNeighborsClassifier", "MLPClassifier"])
def test_unbound_gpu_schedule_other_knobs(name, rows_per_thread):
    """Blocks of 32 threads, a batch that is not a multiple of the block, producers not inlined,
    each thread computing one or three rows."""
    cm = compiled(name)
    knobs = GpuKnobs(threads_per_block=32, bind=False, inline=False, rows_per_thread=rows_per_thread)
    unbound = CompiledModel(build(cm.graph, host_target(), knobs, backend=BACKENDS["cuda"]), host_manifest(cm))
    assert_matches_reference(name, unbound, data(CASES[name].data)[2][:77])


def test_no_large_per_thread_arrays():
    """Elementwise producers are inlined: KNN's (row, n_train, F) differences are no local array."""
    source = cuda_source(compiled("KNeighborsClassifier"))
    sizes = [int(n) for n in re.findall(r"_local_ptr\[(\d+)\]", source)]
    assert sizes and max(sizes) < 64, sizes


# ---------------------------------------------------------------------------------------------
# (c) without a GPU; host DLPack input

@without_gpu
def test_methods_raise_without_gpu():
    cm = compiled("LogisticRegression")
    _, _, Xt = data("classify")
    for method in ("predict", "predict_proba", "decision_function"):
        with pytest.raises(DeviceNotFoundError, match="compiled for CUDA") as err:
            getattr(cm, method)(Xt)
        assert "target='llvm'" in str(err.value) and isinstance(err.value, TargetError)
    with pytest.raises(InputError, match="features"):  # input checks still come first
        cm.predict(Xt[:, :3])


@without_gpu
def test_cuda_artifact_saves_and_loads_without_gpu(tmp_path):
    cm = compiled("RandomForestClassifier-perfect")
    cm.save(tmp_path / "m.cmlc")
    loaded = cmlc.load(tmp_path / "m.cmlc")
    assert loaded.target == cm.target and hasattr(loaded, "predict_proba")
    np.testing.assert_array_equal(loaded.classes_, cm.classes_)
    _, _, Xt = data("classify")
    with pytest.raises(DeviceNotFoundError, match="NVIDIA GPU"):
        loaded.predict(Xt)
    with pytest.raises(TargetError, match="loaded without"):
        cuda_source(loaded)
    loaded.save(tmp_path / "again.cmlc")  # the library is written back unchanged
    assert cmlc.load(tmp_path / "again.cmlc").manifest == loaded.manifest


def test_default_cuda_host_is_portable():
    host = json.loads(compiled("LinearRegression").target)["host"]
    assert host["kind"] == "llvm" and host["mcpu"] == "generic"


def test_nvcc_chosen_when_nvrtc_bindings_are_missing(monkeypatch):
    from cmlc import devices
    for name in ("TVM_CUDA_COMPILE_MODE", *devices.EXACT_MATH_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(devices, "_has_nvrtc_bindings", lambda: False)
    monkeypatch.setattr(devices.shutil, "which", lambda name: "/usr/bin/nvcc")
    ensure_cuda_compiler()
    assert os.environ["TVM_CUDA_COMPILE_MODE"] == "nvcc" and os.environ["TVM_CUDA_NVCC_NO_FAST_MATH"] == "1"
    monkeypatch.delenv("TVM_CUDA_COMPILE_MODE")
    monkeypatch.setattr(devices.shutil, "which", lambda name: None)
    with pytest.raises(TargetError, match="cuda-bindings"):
        ensure_cuda_compiler()


@pytest.fixture(scope="module")
def cpu_model():
    X, y, Xt = data("classify")
    est = linear_model.LogisticRegression(max_iter=500).fit(X, y)
    return est, cmlc.compile(est), Xt


def test_torch_cpu_tensors_on_cpu_model(cpu_model):
    torch = pytest.importorskip("torch")
    est, cm, Xt = cpu_model
    t = torch.from_numpy(np.ascontiguousarray(Xt))
    np.testing.assert_array_equal(cm.predict(t), est.predict(Xt))
    np.testing.assert_allclose(cm.predict_proba(t.float().requires_grad_()), est.predict_proba(Xt.astype(np.float32)),
                               rtol=1e-6)
    assert cm.predict_proba(t.float()).dtype == est.predict_proba(Xt.astype(np.float32)).dtype
    np.testing.assert_allclose(cm.predict_proba(t.T.contiguous().T), est.predict_proba(Xt), rtol=1e-12)  # F order
    assert address(check_input(t, cm._schema)) == t.data_ptr()  # read zero-copy
    bad = t.clone()
    bad[3, 2] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        cm.predict(bad)
    with pytest.raises(InputError, match="features"):
        cm.predict(t[:, :2])


def test_cpu_paths_unchanged(cpu_model, tmp_path):
    """Large batches (thread pool), misaligned and Fortran-order input, and a CPU artifact re-saved."""
    est, cm, _ = cpu_model
    X = fresh_rows(data("classify")[0], n=700, seed=4)
    for rows in (X, X[1:], np.asfortranarray(X), X[:5]):
        np.testing.assert_allclose(cm.predict_proba(rows), est.predict_proba(rows), rtol=1e-12)
    cm.save(tmp_path / "cpu.cmlc")
    cmlc.load(tmp_path / "cpu.cmlc").save(tmp_path / "again.cmlc")
    np.testing.assert_array_equal(cmlc.load(tmp_path / "again.cmlc").predict(X), est.predict(X))


def test_other_dlpack_objects_on_cpu_model(cpu_model):
    import tvm
    est, cm, Xt = cpu_model
    np.testing.assert_allclose(cm.predict_proba(tvm.runtime.tensor(Xt)), est.predict_proba(Xt), rtol=1e-12)


class _FakeGpuArray:
    """Claims to live on cuda:0 (it only answers ``__dlpack_device__``)."""

    def __dlpack__(self, **kwargs):
        raise BufferError("not exportable")

    def __dlpack_device__(self):
        return (2, 0)


def test_gpu_input_to_cpu_model_is_refused(cpu_model):
    _, cm, _ = cpu_model
    with pytest.raises(InputError, match=r"cuda:0 memory.*X.cpu\(\)"):
        cm.predict(_FakeGpuArray())


# ---------------------------------------------------------------------------------------------
# (d) on a GPU

@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("name", CASES)
def test_gpu_matches_reference(name):
    cm = cmlc.compile(fitted(name), target="cuda", options=CASES[name].options or None)
    _, _, Xt = data(CASES[name].data)
    assert_matches_reference(name, cm, Xt)
    assert_matches_reference(name, cm, Xt[:1])
    assert_matches_reference(name, cm, Xt.astype(np.float32))


def _torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA support here (a CPU build of torch)")
    return torch


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("name", ["LogisticRegression", "RandomForestClassifier-traversal", "KMeans",
                                  "HistGradientBoostingClassifier-nan", "L1-LogisticRegression-spmm"])
def test_gpu_torch_cuda_tensors(name):
    torch = _torch_cuda()
    cm = cmlc.compile(fitted(name), target="cuda", options=CASES[name].options or None)
    est = fitted(name)
    _, _, Xt = data(CASES[name].data)
    t = torch.from_numpy(Xt).to("cuda:0")
    for method in CASES[name].methods:
        got, expected = getattr(cm, method)(t), getattr(est, method)(Xt)
        if method == "predict" and hasattr(est, "classes_"):
            assert isinstance(got, np.ndarray)  # labels are host arrays, like classes_
            np.testing.assert_array_equal(got, expected)
            continue
        assert isinstance(got, torch.Tensor) and got.device == t.device, method
        np.testing.assert_allclose(got.cpu().numpy(), expected, rtol=1e-6, atol=CASES[name].atol)
    if "predict_proba" in CASES[name].methods:  # float32 in, float32 out; a strided view
        got = cm.predict_proba(t.float()[::2])
        assert str(got.dtype) == f"torch.{est.predict_proba(Xt[:1].astype(np.float32)).dtype}" and got.device == t.device
        np.testing.assert_allclose(got.cpu().numpy(), est.predict_proba(Xt.astype(np.float32)[::2]), rtol=1e-5, atol=1e-6)
        assert cm.predict_proba(t[:0]).shape == (0, len(est.classes_))


@pytest.mark.gpu
@needs_gpu
def test_gpu_torch_input_is_checked():
    torch = _torch_cuda()
    cm = cmlc.compile(fitted("LogisticRegression"), target="cuda")
    t = torch.from_numpy(data("classify")[2]).to("cuda:0")
    bad = t.clone()
    bad[1, 1] = float("inf")
    with pytest.raises(InputError, match="infinity"):
        cm.predict(bad)
    with pytest.raises(InputError, match="features"):
        cm.predict(t[:, :2])


@pytest.mark.gpu
@needs_gpu
def test_gpu_artifact_round_trip(tmp_path):
    name = "GradientBoostingClassifier-perfect"
    cm = cmlc.compile(fitted(name), target="cuda", options=CASES[name].options)
    cm.save(tmp_path / "m.cmlc")
    loaded = cmlc.load(tmp_path / "m.cmlc")
    assert_matches_reference(name, loaded, data("classify")[2])
