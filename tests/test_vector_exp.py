"""``cmlc.kernels.exp.vector_exp``: the vectorizable exp of the logistic function, against numpy's
(libm's) exp: within a few ulps where exp is normal, NaN kept, never infinite, and the sigmoid
built on it within 2 ulps of ``1 / (1 + exp(-x))`` in float64."""
import numpy as np
import pytest
import tvm
from tvm import te

from cmlc.kernels.exp import vector_exp
from cmlc.target import resolve_target

#: the most ulps vector_exp may differ from libm's correctly rounded exp
MAX_ULPS = {"float64": 1.5, "float32": 3.0}
NORMAL = {"float64": (-708.0, 709.0), "float32": (-87.0, 88.0)}


def _run(dtype: str, values: np.ndarray) -> tuple:
    """``(exp(values), sigmoid(values))`` by vectorized kernels (16 lanes) built for this CPU."""
    n = te.var("n", "int64")
    x = te.placeholder((n,), dtype, name="x")
    one = tvm.tirx.const(1, dtype)
    y = te.compute((n,), lambda i: vector_exp(x[i], dtype), name="y")
    s = te.compute((n,), lambda i: one / (one + vector_exp(-x[i], dtype)), name="s")
    sch = tvm.s_tir.Schedule(te.create_prim_func([x, y, s]))
    for block in ("y", "s"):
        sch.vectorize(sch.split(sch.get_loops(sch.get_sblock(block))[0], [None, 16])[1])
    lib = tvm.compile(tvm.IRModule({"main": sch.mod["main"]}), target=resolve_target("llvm"))
    values = np.ascontiguousarray(values[: len(values) // 16 * 16], dtype=dtype)
    out = [tvm.runtime.tensor(np.zeros_like(values)) for _ in range(2)]
    lib["main"](tvm.runtime.tensor(values), *out)
    return values, out[0].numpy(), out[1].numpy()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_vector_exp_is_within_a_few_ulps_of_libm(dtype):
    lo, hi = NORMAL[dtype]
    rng = np.random.default_rng(0)
    grid = np.concatenate([np.linspace(lo - 50, hi + 50, 100_003), rng.normal(size=50_000) * 4,
                           rng.normal(size=10_000) * 1e-12, [0.0, -0.0, np.inf, -np.inf, np.nan, lo, hi]])
    x, got, sigmoid = _run(dtype, grid)
    with np.errstate(all="ignore"):
        expected = np.exp(x)
    normal = (x > lo) & (x < hi)
    ulps = np.abs(got[normal] - expected[normal]) / (expected[normal] * np.finfo(dtype).eps)
    assert ulps.max() <= MAX_ULPS[dtype]
    assert np.isnan(got[np.isnan(x)]).all() and np.isnan(sigmoid[np.isnan(x)]).all()
    assert np.isfinite(got[~np.isnan(x)]).all()
    assert (got[x >= hi] > np.finfo(dtype).max / 8).all() and (got[x <= lo - 40] < np.finfo(dtype).tiny).all()
    assert ((sigmoid >= 0) & (sigmoid <= 1))[~np.isnan(x)].all()
    if dtype == "float64":
        with np.errstate(all="ignore"):
            reference = 1 / (1 + np.exp(-x))
        np.testing.assert_allclose(sigmoid[~np.isnan(x)], reference[~np.isnan(x)], rtol=2 * np.finfo(dtype).eps,
                                   atol=np.finfo(dtype).tiny * 2)
