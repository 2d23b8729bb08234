"""Random ECGs aimed at the redundant-elimination rules: scaler chains before tree ops and
threshold tests, duplicate subexpressions, identity constants, cast chains, takes of takes.

Every generator takes ``draw_int(lo, hi)`` (hypothesis or numpy), so hypothesis can shrink, and
returns a float64 graph over ``X (N, n_features)``. :func:`probe_rows` makes inputs that sit on
every threshold a graph tests (and one float either side), plus ±0, ±inf, NaN and huge/tiny values.
"""
import numpy as np

from cmlc.ecg import BATCH, Const, GraphBuilder, Op, TreeEnsemble

SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 5e-324, -1e-310, 0.5, -2.0])


def random_ensemble(draw_int, n_features, tdtype="float32", comparison="le", n_trees=2, n_outputs=2,
                    threshold_pool=None):
    """A small random :class:`TreeEnsemble` (depth <= 3) whose thresholds come from ``threshold_pool``."""
    pool = np.asarray(threshold_pool if threshold_pool is not None else np.arange(-8, 9) / 4.0)
    feature, threshold, left, right, missing, roots = [], [], [], [], [], []

    def grow(depth):
        node = len(feature)
        feature.append(0), threshold.append(0.0), left.append(-1), right.append(-1), missing.append(False)
        if depth < 3 and draw_int(0, 3) > 0:
            feature[node] = draw_int(0, n_features - 1)
            threshold[node] = pool[draw_int(0, len(pool) - 1)]
            missing[node] = bool(draw_int(0, 1))
            left[node] = grow(depth + 1)
            right[node] = grow(depth + 1)
        return node

    for _ in range(n_trees):
        roots.append(grow(0))
    n = len(feature)
    value = np.sin(np.arange(n * n_outputs).reshape(n, n_outputs) * 1.7 + draw_int(0, 9))
    return TreeEnsemble(roots=np.array(roots, np.int32), feature=np.array(feature, np.int32),
                        threshold=np.array(threshold).astype(tdtype), left=np.array(left, np.int32),
                        right=np.array(right, np.int32), missing_left=np.array(missing), value=value,
                        comparison=comparison, threshold_dtype=tdtype)


def _per_feature(draw_int, width, positive):
    """A scalar or a (width,) / (1, width) constant; ``positive`` keeps it > 0, else any sign or 0."""
    rng = np.random.default_rng(draw_int(0, 10 ** 6))
    values = rng.choice([0.1, 0.3, 1.0 / 3.0, 2.0, 7.5, 1e-3, 1e5, np.pi], size=width)
    if not positive:
        values = values * rng.choice([-1.0, 1.0, 0.0], size=width, p=[0.3, 0.6, 0.1])
    shape = draw_int(0, 2)
    return values[:1].reshape(()) if shape == 0 else (values if shape == 1 else values[None, :])


def scaler_chain(b, x, draw_int, n_ops):
    """A random chain of per-feature ops on ``x`` (N, F): mostly the foldable ones (add/sub/mul/div
    by per-feature constants, maximum/minimum, casts, take), sometimes one that must block the fold
    (neg, c - x, multiplication by a negative or zero, exp)."""
    v = x
    for _ in range(n_ops):
        width = v.shape[1]
        kind = draw_int(0, 11)
        if kind == 0:
            v = b.emit(Op.SUB, v, b.const(_per_feature(draw_int, width, False)))
        elif kind == 1:
            c = b.const(_per_feature(draw_int, width, False))
            v = b.emit(Op.ADD, *((v, c) if draw_int(0, 1) else (c, v)))
        elif kind == 2:
            c = b.const(_per_feature(draw_int, width, positive=draw_int(0, 3) > 0))
            v = b.emit(Op.MUL, *((v, c) if draw_int(0, 1) else (c, v)))
        elif kind == 3:
            v = b.emit(Op.DIV, v, b.const(_per_feature(draw_int, width, positive=draw_int(0, 3) > 0)))
        elif kind in (4, 5):
            op = Op.MAXIMUM if kind == 4 else Op.MINIMUM
            v = b.emit(op, v, b.const(float(draw_int(-4, 4)) / 2))
        elif kind == 6:
            v = b.emit(Op.CAST, b.emit(Op.CAST, v, dtype="float32"), dtype="float64")
        elif kind == 7 and width > 1:
            v = b.emit(Op.TAKE, v, indices=np.array([draw_int(0, width - 1) for _ in range(draw_int(1, 4))]))
        elif kind == 8:
            v = b.emit(Op.NEG, v)
        elif kind == 9:
            v = b.emit(Op.SUB, b.const(1.5), v)
        elif kind == 10:
            v = b.emit(Op.EXP, v)
        else:
            v = b.emit(Op.DIV, v, b.const(3.0))
    return v


def scaler_tree_graph(draw_int, n_features):
    """X -> scaler chain -> tree_ensemble / tree_leaves (sharing one ensemble), the GEMM lowering's
    ``where(isnan(g), miss, g <=/< thr)`` on ``take(cast(v))``, an order test on ``v`` itself, and
    sometimes ``v`` as an output of its own."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, n_features), "float64")
    v = scaler_chain(b, x, draw_int, draw_int(0, 5))
    width = v.shape[1]
    tdtype = ["float32", "float64"][draw_int(0, 1)]
    comparison = ["le", "lt"][draw_int(0, 1)]
    ensemble = random_ensemble(draw_int, width, tdtype, comparison, n_trees=draw_int(1, 3))
    outputs = {"sum": b.emit(Op.TREE_ENSEMBLE, v, ensemble=ensemble, strategy="traversal", handle_nan=True)}
    if draw_int(0, 1):
        outputs["leaves"] = b.emit(Op.TREE_LEAVES, v, ensemble=ensemble, handle_nan=True)
    g = b.emit(Op.TAKE, b.emit(Op.CAST, v, dtype=tdtype), indices=np.array([draw_int(0, width - 1) for _ in range(3)]))
    thr = b.const(np.array([0.25, -1.0, 1.5]).astype(tdtype))
    test = b.emit([Op.LESS_EQUAL, Op.LESS][draw_int(0, 1)], g, thr)
    outputs["gemm"] = b.emit(Op.WHERE, b.emit(Op.ISNAN, g), b.const(np.array([True, False, True])), test)
    outputs["order"] = b.emit([Op.GREATER, Op.GREATER_EQUAL, Op.LESS, Op.LESS_EQUAL][draw_int(0, 3)], v,
                              b.const(float(draw_int(-4, 4)) / 3))
    if draw_int(0, 2) == 0:
        outputs["transform"] = v
    return b.build(outputs)


def redundancy_graph(draw_int, n_features, n_ops):
    """Random graph built from the simplifier's targets: duplicates, x*1, x/1, x+(-0.0), x+0.0 (not
    an identity: its result feeds ``1 / .``), x-0, cast chains, takes of takes, concat of takes,
    reshape chains, argmax of casts / of power-of-two scales of bounded values / of integer shifts."""
    b = GraphBuilder()
    x = b.input("X", (BATCH, n_features), "float64")
    values = [x]
    for _ in range(n_ops):
        v = values[draw_int(0, len(values) - 1)]
        w = v.shape[1]
        kind = draw_int(0, 14)
        if kind == 0:      # the same node twice
            op = [Op.EXP, Op.NEG, Op.ABS][draw_int(0, 2)]
            values += [b.emit(op, v), b.emit(op, v)]
        elif kind == 1:
            values.append(b.emit(Op.MUL, v, b.const(np.ones(w) if draw_int(0, 1) else 1.0)))
        elif kind == 2:
            values.append(b.emit(Op.DIV, v, b.const(1.0)))
        elif kind == 3:
            zero = [-0.0, 0.0][draw_int(0, 1)]
            s = b.emit(Op.ADD, b.const(zero), v) if draw_int(0, 1) else b.emit(Op.ADD, v, b.const(zero))
            values.append(b.emit(Op.DIV, b.const(1.0), s))
        elif kind == 4:
            values.append(b.emit(Op.DIV, b.const(1.0), b.emit(Op.SUB, v, b.const([-0.0, 0.0][draw_int(0, 1)]))))
        elif kind == 5:
            mid = ["float32", "float64", "float16"][draw_int(0, 2)]
            values.append(b.emit(Op.CAST, b.emit(Op.CAST, b.emit(Op.CAST, v, dtype="float32"), dtype=mid), dtype="float64"))
        elif kind == 6:    # bool -> int -> float, int -> int -> float
            bits = b.emit(Op.GREATER, v, b.const(0.0))
            mid = ["int8", "int32", "int64", "float32"][draw_int(0, 3)]
            values.append(b.emit(Op.CAST, b.emit(Op.CAST, bits, dtype=mid), dtype="float64"))
        elif kind == 7:
            i = np.array([draw_int(0, w - 1) for _ in range(draw_int(1, 5))])
            j = np.array([draw_int(0, len(i) - 1) for _ in range(draw_int(1, 5))])
            values.append(b.emit(Op.TAKE, b.emit(Op.TAKE, v, indices=i), indices=j))
        elif kind == 8:
            values.append(b.emit(Op.TAKE, v, indices=np.arange(w)))
        elif kind == 9:
            parts = [b.emit(Op.TAKE, v, indices=np.array([draw_int(0, w - 1)])) for _ in range(draw_int(1, 3))]
            values.append(b.emit(Op.CONCAT, *parts, axis=1))
        elif kind == 10:
            r = b.emit(Op.RESHAPE, b.emit(Op.RESHAPE, v, shape=(BATCH, 1, w)), shape=(BATCH, w))
            values.append(b.emit(Op.RESHAPE, r, shape=(BATCH, w)))
        elif kind == 11:   # argmax of a lossless cast (float32 -> float64) or of a lossy one (float64 -> float32)
            f32 = b.emit(Op.CAST, v, dtype="float32")
            src = [f32, b.emit(Op.CAST, f32, dtype="float64"), b.emit(Op.CAST, v, dtype="float32")][draw_int(0, 2)]
            values.append(b.emit(Op.CAST, b.emit(Op.ARGMAX, src, keepdims=True), dtype="float64"))
        elif kind == 12:   # argmax(sigmoid(v) * 2^k) (bounded: exact) or * 3 (not a power of two)
            scale = [2.0, 1024.0, 3.0, 0.5][draw_int(0, 3)]
            am = b.emit(Op.ARGMAX, b.emit(Op.MUL, b.emit(Op.SIGMOID, v), b.const(scale)), keepdims=True)
            values.append(b.emit(Op.CAST, am, dtype="float64"))
        elif kind == 13:   # argmax(float(int) + n)
            ints = b.emit(Op.CAST, b.emit(Op.CAST, b.emit(Op.MUL, v, b.const(3.0)), dtype="int32"), dtype="float64")
            shift = b.const([5.0, 0.5, 2.0 ** 60][draw_int(0, 2)])
            am = b.emit(Op.ARGMAX, b.emit([Op.ADD, Op.SUB][draw_int(0, 1)], ints, shift), keepdims=True)
            values.append(b.emit(Op.CAST, am, dtype="float64"))
        else:
            values.append(b.emit(Op.ADD, b.emit(Op.EXP, v), b.emit(Op.EXP, v)))
    outputs = {f"out{i}": v for i, v in enumerate(values[-3:])}
    return b.build(outputs)


def _thresholds(graph):
    """(column, value) pairs a graph's tree nodes and order tests on a take of the input compare with."""
    producers = {id(n.output): n for n in graph.nodes}
    out = []
    for node in graph.nodes:
        if node.op in (Op.TREE_ENSEMBLE, Op.TREE_LEAVES) and node.inputs[0] is graph.inputs[0]:
            e = node.attrs["ensemble"]
            internal = ~e.is_leaf()
            out += list(zip(e.feature[internal], np.asarray(e.threshold[internal], np.float64)))
        elif len(node.inputs) == 2 and isinstance(node.inputs[1], Const) and node.output.dtype == "bool":
            src, t = node.inputs[0], node.inputs[1].data
            p = producers.get(id(src))
            cols = (np.arange(src.shape[1]) if src is graph.inputs[0] else
                    np.asarray(p.attrs["indices"]) if p is not None and p.op is Op.TAKE and p.inputs[0] is graph.inputs[0] else None)
            if cols is not None and len(src.shape) == 2:
                out += list(zip(cols, np.broadcast_to(t.astype(np.float64).reshape(-1), (len(cols),))))
    return out


def probe_rows(graphs, n_features, n=30, seed=0):
    """float64 (rows, n_features): random rows, special values, and for every threshold any of
    ``graphs`` tests on an input column, rows with that column at the threshold and one float either side."""
    rng = np.random.default_rng(seed)
    rows = [rng.standard_normal((n, n_features)) * rng.choice([0.5, 3.0, 100.0], size=(n, 1))]
    special = rng.choice(SPECIAL, size=(len(SPECIAL) * 2, n_features))
    special[: len(SPECIAL)] = SPECIAL[:, None]
    rows.append(special)
    probes = []
    for g in graphs:
        for col, t in _thresholds(g):
            for value in (t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)):
                row = rng.standard_normal(n_features)
                row[col] = value
                probes.append(row)
    if probes:
        rows.append(np.array(probes))
    return np.vstack(rows)
