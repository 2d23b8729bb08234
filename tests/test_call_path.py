"""The call path of a compiled model: which memory the kernels read, in which dtype.

The kernels read float32 and float64 ``X`` (the default ``input_dtypes``) where it lies, at any
element-aligned address; other layouts (Fortran order, strided, integers) are copied once. Every
layout gives the answers of C-contiguous float64 input of the same values, which are the
reference's (the conformance modules check those); a float32 or float64 C-contiguous batch is
never copied before the kernel.
"""
import functools
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cmlc
from cmlc.errors import InputError
from cmlc.kernels.alignment import element_aligned
from cmlc.options import OptionError
from cmlc.runtime import compiled_model
from cmlc.runtime.direct import kernel_library
from cmlc.runtime.inputs import address
from cmlc.target import resolve_target
from conformance import methods

MODELS = {
    "logreg": lambda: LogisticRegression(max_iter=500),
    "forest": lambda: RandomForestClassifier(n_estimators=8, max_depth=6, random_state=0),
    "scaler-hgb": lambda: make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=5, random_state=0)),
    "gnb": GaussianNB,
    "knn": lambda: KNeighborsClassifier(3),
    "isolation": lambda: IsolationForest(n_estimators=5, random_state=0),
}


@functools.lru_cache(maxsize=None)
def fitted_and_compiled(name: str):
    X, y = make_classification(400, 6, n_informative=4, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MODELS[name]().fit(X, y)
    return model, cmlc.compile(model)


def misaligned(a: np.ndarray, offset_items: int = 1) -> np.ndarray:
    """A C-contiguous copy of ``a`` whose data starts ``offset_items`` elements past a 64-byte
    boundary (so it is aligned to its element size only)."""
    raw = np.empty(a.size + 64, a.dtype)
    start = (-address(raw) // a.dtype.itemsize) % (64 // a.dtype.itemsize) + offset_items
    out = raw[start:start + a.size].reshape(a.shape)
    out[:] = a
    assert address(out) % 64 == offset_items * a.dtype.itemsize
    return out


def layouts(X: np.ndarray) -> dict:
    """The same (float32-representable) values in every layout the runtime takes."""
    X32 = X.astype(np.float32)
    read_only = X32.copy()
    read_only.setflags(write=False)
    return {"float64": X32.astype(np.float64), "float32": X32, "float32-misaligned": misaligned(X32, 3),
            "float64-misaligned": misaligned(X32.astype(np.float64), 1), "fortran": np.asfortranarray(X32),
            "strided": np.repeat(X32, 2, axis=1)[:, ::2], "read-only": read_only, "big-endian": X32.astype(">f8"),
            "one-row": X32[:1], "one-row-misaligned": misaligned(X32[1:2], 1)}


def as_returned(expected, rows, cm):
    """``expected`` (the answer for float64 input) as the model returns it for ``rows``: float32
    for float32 input where the estimator keeps float32."""
    if rows.dtype == np.float32 and cm.manifest["float32_out"] and expected.dtype == np.float64:
        return expected.astype(np.float32)
    return expected


@pytest.mark.parametrize("name", MODELS)
def test_every_layout_and_dtype_gives_the_float64_answers(name):
    model, cm = fitted_and_compiled(name)
    X = make_classification(300, 6, n_informative=4, random_state=7)[0]
    for method in methods(model):
        for label, rows in layouts(X).items():
            expected = getattr(cm, method)(np.ascontiguousarray(rows, dtype=np.float64))
            if method in ("predict", "apply"):
                np.testing.assert_array_equal(expected, getattr(model, method)(np.asarray(rows, dtype=np.float64)))
            np.testing.assert_array_equal(getattr(cm, method)(rows), as_returned(expected, rows, cm),
                                          err_msg=f"{name}.{method} on {label} input")


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_integer_input_gives_the_answers_of_its_float64_values(dtype):
    model, cm = fitted_and_compiled("forest")
    X = np.random.default_rng(0).integers(-3, 4, size=(200, 6)).astype(dtype) if dtype != np.uint8 else \
        np.random.default_rng(0).integers(0, 4, size=(200, 6)).astype(dtype)
    for method in methods(model):
        np.testing.assert_array_equal(getattr(cm, method)(X), getattr(cm, method)(X.astype(np.float64)))
    np.testing.assert_array_equal(cm.predict(X), model.predict(X))


def _staged_addresses(cm, monkeypatch) -> list:
    """Record the address (and dtype) of every array the model hands a kernel as its input X:
    what the VM path stages, and what a direct call (small batches) passes its kernels."""
    seen, stage = [], cm._placement.stage

    def recording(x):
        seen.append((address(x), x.dtype.name))
        staged = stage(x)
        assert address(np.from_dlpack(staged)) == address(x)      # TVM reads that memory itself
        return staged
    monkeypatch.setattr(cm._placement, "stage", recording)

    # direct calls (small batches): the arguments a program's steps take as X
    reads_x = {step["kernel"]: [i for i, ref in enumerate(step["args"]) if ref == ["input"]]
               for program in cm.manifest["direct"].values() for step in program["steps"]}

    class RecordingLibrary:
        def __init__(self, library):
            self.library = library

        def get_function(self, name):
            kernel = self.library.get_function(name)

            def call(*args):
                for i in reads_x[name]:
                    x = args[i] if isinstance(args[i], np.ndarray) else np.from_dlpack(args[i])
                    seen.append((address(x), x.dtype.name))
                return kernel(*args)
            return call
    monkeypatch.setattr(compiled_model, "kernel_library", lambda ex: RecordingLibrary(kernel_library(ex)))
    monkeypatch.setattr(cm, "_direct", cm._direct_calls())
    return seen


@pytest.mark.parametrize("name", ["logreg", "forest"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 1000])
def test_c_contiguous_float_input_reaches_the_kernel_uncopied(name, dtype, rows, monkeypatch):
    _, cm = fitted_and_compiled(name)
    X = misaligned(make_classification(rows, 6, random_state=2)[0].astype(dtype), 1)
    seen = _staged_addresses(cm, monkeypatch)
    cm.predict_proba(X)
    assert seen == [(address(X), np.dtype(dtype).name)]


def test_other_layouts_are_copied_once_to_a_readable_dtype(monkeypatch):
    _, cm = fitted_and_compiled("logreg")
    X = make_classification(50, 6, random_state=2)[0]
    seen = _staged_addresses(cm, monkeypatch)
    for rows, dtype in [(np.asfortranarray(X.astype(np.float32)), "float32"), (X.astype(np.int64), "float64"),
                        (X[:, :6][::2], "float64"), (X.astype(">f8"), "float64")]:
        seen.clear()
        cm.predict(rows)
        assert [d for _, d in seen] == [dtype] and seen[0][0] != address(rows)


def test_input_dtypes_option():
    model, _ = fitted_and_compiled("logreg")
    cm = cmlc.compile(model, options={"input_dtypes": ["int32"]})
    assert cm.manifest["input_dtypes"] == ["float64", "int32"]
    X = np.random.default_rng(1).integers(-5, 5, size=(40, 6)).astype(np.int32)
    np.testing.assert_array_equal(cm.predict_proba(X), cmlc.compile(model).predict_proba(X.astype(np.float64)))
    X32 = X.astype(np.float32)      # float32 is not read as it is by this build: widened once, same answers
    np.testing.assert_array_equal(cm.predict_proba(X32), cm.predict_proba(X.astype(np.float64)).astype(np.float32)
                                  if cm.manifest["float32_out"] else cm.predict_proba(X.astype(np.float64)))
    for bad in (["float16"], ["complex128"], "text"):
        with pytest.raises(OptionError, match="input_dtypes"):
            cmlc.compile(model, options={"input_dtypes": bad})


def test_saved_model_keeps_its_input_dtypes(tmp_path):
    model, cm = fitted_and_compiled("forest")
    cm.save(tmp_path / "m.cmlc")
    loaded = cmlc.load(tmp_path / "m.cmlc")
    X = misaligned(make_classification(30, 6, random_state=3)[0].astype(np.float32), 2)
    np.testing.assert_array_equal(loaded.predict_proba(X), cm.predict_proba(X))
    with pytest.raises(InputError, match="features"):
        loaded.predict(X[:, :5].copy())


def test_element_aligned_declares_the_named_buffers_only():
    from tvm import te
    n = te.var("n", "int64")
    X = te.placeholder((n, 3), "float32", name="X")
    W = te.placeholder((3,), "float32", name="W")
    Y = te.compute((n,), lambda i: X[i, 0] * W[0], name="Y")
    func = element_aligned(te.create_prim_func([X, W, Y]), ["X"])
    assert {p.name: p.data_alignment for p in func.params} == {"X": 4, "W": 64, "Y": 64}
    with pytest.raises(ValueError, match="not a buffer parameter"):
        element_aligned(func, ["Z"])


def test_element_aligned_keeps_every_float64_constant():
    """The TVMScript parser reads ``T.float64(x)`` through float32: values beyond its range must
    survive the round trip (GaussianNB's -DBL_MAX, tiny and non-float32 values)."""
    import tvm
    from tvm import te, tirx
    n = te.var("n", "int64")
    X = te.placeholder((n, 1), "float64", name="X")
    values = [-np.finfo(np.float64).max, 1e-300, 0.1, 1e300, -np.inf, 2.0 ** -1074]
    Y = te.compute((n, len(values)), lambda i, j: X[i, 0] * 0.0 + tirx.const(values[0], "float64") * 0.0, name="Y")
    def overwrite(Y, k, v):    # column k of Y := v
        return te.compute((n, len(values)), lambda i, j: tirx.if_then_else(j == k, tirx.const(v, "float64"), Y[i, j]),
                          name=f"Y{k}")
    for k, v in enumerate(values):
        Y = overwrite(Y, k, v)
    func = te.create_prim_func([X, Y])
    out = np.empty((2, len(values)))
    built = tvm.compile(tvm.IRModule({"main": element_aligned(func, ["X"])}), target=resolve_target("llvm"))
    built["main"](np.zeros((2, 1)), out)
    np.testing.assert_array_equal(out, np.tile(values, (2, 1)))


@pytest.mark.parametrize("name", ["logreg", "scaler-hgb"])
def test_fused_kernels_take_the_input_element_aligned(name):
    """Every fused kernel's parameter for the model's input is declared aligned to its element
    only (TVM would otherwise let LLVM assume 64 bytes); each input dtype gets its own."""
    from cmlc.pipeline import lower
    from cmlc.translate import translate
    model, _ = fitted_and_compiled(name)
    lowered = lower(model)
    module = translate(lowered.graph, resolve_target("llvm"), readers=lowered.readers)
    seen = set()
    for gv, func in module.functions.items():
        for p in getattr(func, "params", []):
            if getattr(p, "name", None) == "X" and hasattr(p, "data_alignment"):
                seen.add(p.dtype)
                assert p.data_alignment == np.dtype(p.dtype).itemsize, (gv.name_hint, p.dtype, p.data_alignment)
    assert seen == {"float64", "float32"} or name == "scaler-hgb"


def _through_the_vm(cm):
    """The same compiled model without direct programs: every batch through the Relax VM."""
    from cmlc.runtime.compiled_model import CompiledModel
    return CompiledModel(cm._executable, {k: v for k, v in cm.manifest.items() if k != "direct"})


@pytest.mark.parametrize("name", MODELS)
def test_small_batches_called_directly_give_the_vm_answers(name):
    """Batches up to serial_max_rows run the serial kernels without the VM (cmlc.runtime.direct):
    bit for bit the VM's answers, for every method and input dtype."""
    model, cm = fitted_and_compiled(name)
    vm = _through_the_vm(cm)
    assert not vm._direct
    assert {m for m, _ in cm._direct} == set(cm.manifest["methods"])
    X = make_classification(300, 6, n_informative=4, random_state=11)[0]
    for dtype in (np.float64, np.float32):
        for rows in (1, 2, 7, cm.manifest["serial_max_rows"]):
            batch = np.ascontiguousarray(X[:rows], dtype=dtype)
            for method in methods(model):
                np.testing.assert_array_equal(getattr(cm, method)(batch), getattr(vm, method)(batch),
                                              err_msg=f"{name}.{method}, {rows} rows of {dtype.__name__}")


def test_direct_calls_run_concurrently():
    """Direct calls take no lock: threads calling one model at once get their own answers."""
    from concurrent.futures import ThreadPoolExecutor
    _, cm = fitted_and_compiled("forest")
    X = make_classification(64, 6, random_state=5)[0]
    expected = [cm.predict_proba(X[i:i + 1]) for i in range(len(X))]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: [cm.predict_proba(X[i:i + 1]) for _ in range(20)], range(len(X))))
    for want, answers in zip(expected, got):
        for answer in answers:
            np.testing.assert_array_equal(answer, want)


def test_direct_programs_survive_save_and_load(tmp_path):
    _, cm = fitted_and_compiled("scaler-hgb")
    cm.save(tmp_path / "m.cmlc")
    loaded = cmlc.load(tmp_path / "m.cmlc")
    assert loaded._direct.keys() == cm._direct.keys()
    X = make_classification(20, 6, random_state=4)[0]
    np.testing.assert_array_equal(loaded.predict_proba(X[:3]), cm.predict_proba(X[:3]))


def test_direct_calls_keep_intermediates_for_small_batches_only():
    """A thread keeps the tensors passed between kernels for batches of at most KEPT_ROWS rows
    (reused, so later answers stay right); larger batches get new arrays, so what a thread holds
    stays bounded whatever batch sizes it sees."""
    from cmlc.runtime.direct import KEPT_ROWS
    model, cm = fitted_and_compiled("forest")
    direct = cm._direct["predict_proba", np.dtype(np.float64)]
    assert len(direct._steps) > 1   # the walk, then the division by the trees
    X = make_classification(cm.manifest["serial_max_rows"], 6, random_state=6)[0]
    for rows in [1, 2, KEPT_ROWS, KEPT_ROWS + 1, len(X), 1, 2]:
        np.testing.assert_array_equal(cm.predict_proba(X[:rows]), model.predict_proba(X[:rows]), err_msg=f"{rows} rows")
    kept = set(direct._local.by_rows)   # other tests of this process may have kept other small sizes
    assert {1, 2, KEPT_ROWS} <= kept and max(kept) == KEPT_ROWS
