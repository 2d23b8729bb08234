"""The ONNX-ML importer: models converted by skl2onnx / onnxmltools, compiled by cmlc, compared with
ONNX Runtime (the reference: labels identical, scores within float32 rounding) and with the
original estimator (which computes in float64, so within a looser tolerance)."""
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import Binarizer, Normalizer, OneHotEncoder, StandardScaler  # noqa: E402
from sklearn.svm import SVC, SVR, LinearSVC  # noqa: E402
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor  # noqa: E402

import cmlc  # noqa: E402
from cmlc.ecg import evaluate  # noqa: E402
from cmlc.errors import InputError, UnsupportedModelError  # noqa: E402
from cmlc.frontends import convert  # noqa: E402

#: float32 graphs vs ONNX Runtime (same float32 operations, other summation orders / exp, tanh)
ORT_RTOL, ORT_ATOL = 1e-5, 1e-6
#: the compiled float32 graph vs its numpy reference: the same operations, exp / tanh from another
#: libm and other fused multiply-adds, so within 2 float32 ulps of 1 (SVC's pairwise coupling)
REFERENCE_RTOL, REFERENCE_ATOL = 1e-6, 2.0 ** -22
#: vs the source estimator, which computes in float64 on float64 weights the ONNX model rounded
SOURCE_RTOL, SOURCE_ATOL = 1e-3, 1e-4
#: share of labels equal to the source estimator's (a float32 model may flip a row at a tie)
SOURCE_LABEL_AGREEMENT = 0.99
N_TRAIN, N_TEST, N_FEATURES = 150, 120, 5
OPSETS = {"": 17, "ai.onnx.ml": 3}

warnings.filterwarnings("ignore", category=FutureWarning)   # SVC(probability=True) deprecation


def _data(kind):
    if kind == "multi":
        X, y = make_classification(N_TRAIN, N_FEATURES, n_informative=3, n_classes=3, random_state=0)
    elif kind == "binary":
        X, y = make_classification(N_TRAIN, N_FEATURES, random_state=1)
    elif kind == "strings":
        X, y = make_classification(N_TRAIN, N_FEATURES, n_informative=3, n_classes=3, random_state=2)
        y = np.array(["cat", "dog", "emu"])[y]
    elif kind == "categories":
        X = np.random.RandomState(3).randint(0, 3, (N_TRAIN, 2)).astype(np.float64)
        y = (X[:, 0] + X[:, 1] > 2).astype(int)
    elif kind == "nan":
        X, y = make_classification(N_TRAIN, N_FEATURES, random_state=4)
        X[::6, 1] = np.nan
    else:
        X, y = make_regression(N_TRAIN, N_FEATURES, noise=1.0, random_state=5)
        y = y / 10
    return X.astype(np.float32), y


def _fresh(kind, n=N_TEST, seed=7):
    rng = np.random.RandomState(seed)
    if kind == "categories":
        return rng.randint(0, 3, (n, 2)).astype(np.float32)
    X = (rng.randn(n, N_FEATURES) * 1.5).astype(np.float32)
    if kind == "nan":
        X[::5, 1] = np.nan
    return X


def _skl(est, X, zipmap=True):
    options = None if zipmap else {id(est): {"zipmap": False}}
    return skl2onnx.to_onnx(est, X[:1], options=options, target_opset=OPSETS)


def _xgb(est, X, zipmap=True):
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    return convert_xgboost(est, initial_types=[("X", FloatTensorType([None, X.shape[1]]))], target_opset=15)


# name -> (estimator factory, data kind, converter, zipmap, how the model reaches cmlc.compile)
CLASSIFIERS = {
    "logreg-binary": (lambda: LogisticRegression(), "binary", _skl, True, "proto"),
    "logreg-multi-nozipmap": (lambda: LogisticRegression(), "multi", _skl, False, "bytes"),
    "logreg-strings": (lambda: LogisticRegression(), "strings", _skl, True, "path"),
    "linearsvc": (lambda: LinearSVC(), "multi", _skl, True, "proto"),
    "svc-rbf-binary": (lambda: SVC(), "binary", _skl, True, "bytes"),
    "svc-poly-multi": (lambda: SVC(kernel="poly", degree=3), "multi", _skl, True, "proto"),
    "svc-linear-proba-binary": (lambda: SVC(kernel="linear", probability=True, random_state=0), "binary", _skl, True,
                                "path"),
    "svc-rbf-proba-multi": (lambda: SVC(probability=True, random_state=0), "multi", _skl, False, "bytes"),
    "decision-tree-binary": (lambda: DecisionTreeClassifier(max_depth=4, random_state=0), "binary", _skl, True, "bytes"),
    "random-forest-strings": (lambda: RandomForestClassifier(6, max_depth=4, random_state=0), "strings", _skl, True,
                              "proto"),
    "gradient-boosting-binary": (lambda: GradientBoostingClassifier(n_estimators=6, max_depth=3, random_state=0),
                                 "binary", _skl, True, "path"),
    "gradient-boosting-multi": (lambda: GradientBoostingClassifier(n_estimators=5, max_depth=3, random_state=0),
                                "multi", _skl, False, "proto"),
    "onehot-logreg": (lambda: make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression()),
                      "categories", _skl, True, "bytes"),
    "xgb-binary-nan": (lambda: _xgb_model("XGBClassifier"), "nan", _xgb, True, "proto"),
    "xgb-multi": (lambda: _xgb_model("XGBClassifier"), "multi", _xgb, True, "path"),
}
REGRESSORS = {
    "linear-regression": (lambda: LinearRegression(), "regression", _skl, True, "proto"),
    "svr": (lambda: SVR(), "regression", _skl, True, "bytes"),
    "decision-tree-regressor": (lambda: DecisionTreeRegressor(max_depth=4, random_state=0), "regression", _skl, True,
                                "path"),
    "random-forest-regressor": (lambda: RandomForestRegressor(6, max_depth=4, random_state=0), "regression", _skl,
                                True, "proto"),
    "gradient-boosting-regressor": (lambda: GradientBoostingRegressor(n_estimators=8, max_depth=3, random_state=0),
                                    "regression", _skl, True, "bytes"),
    "xgb-regressor": (lambda: _xgb_model("XGBRegressor"), "regression", _xgb, True, "proto"),
}
TRANSFORMERS = {
    "scaler-normalizer-binarizer": (lambda: make_pipeline(StandardScaler(), Normalizer(), Binarizer(threshold=0.1)),
                                    "multi", _skl, True, "proto"),
    "simple-imputer": (lambda: SimpleImputer(), "nan", _skl, True, "path"),
}


def _xgb_model(name):
    xgboost = pytest.importorskip("xgboost")
    pytest.importorskip("onnxmltools")
    return getattr(xgboost, name)(n_estimators=6, max_depth=3, random_state=0)


def _fit(factory, kind, converter, zipmap):
    X, y = _data(kind)
    est = factory()
    est.fit(X) if y is None or isinstance(est, SimpleImputer) else est.fit(X, y)
    return est, converter(est, X, zipmap)


def _source(model, how, tmp_path):
    if how == "bytes":
        return model.SerializeToString()
    if how == "path":
        path = tmp_path / "model.onnx"
        onnx.save(model, str(path))
        return path
    return model


def _ort(model, X):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def _as_array(proba, classes):
    """ORT's probabilities as (N, C): a ZipMap output is a list of dicts keyed by label."""
    return np.array([[row[c] for c in classes.tolist()] for row in proba], np.float32) if isinstance(proba, list) \
        else proba


def _agreement(a, b) -> float:
    return float(np.mean(np.asarray(a) == np.asarray(b)))


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_classifier_matches_ort_and_source(name, tmp_path):
    factory, kind, converter, zipmap, how = CLASSIFIERS[name]
    est, model = _fit(factory, kind, converter, zipmap)
    cm = cmlc.compile(_source(model, how, tmp_path), target="llvm")
    X = _fresh(kind)
    ref_label, ref_proba = _ort(model, X)
    label, proba = cm.predict(X), cm.predict_proba(X)
    np.testing.assert_array_equal(label, ref_label)
    assert label.dtype == ref_label.dtype or (label.dtype == object and ref_label.dtype == object)
    np.testing.assert_array_equal(cm.classes_, np.asarray(est.classes_).astype(cm.classes_.dtype))
    assert proba.dtype == np.float32 and proba.shape == (len(X), len(cm.classes_))
    np.testing.assert_allclose(proba, _as_array(ref_proba, cm.classes_), rtol=ORT_RTOL, atol=ORT_ATOL)
    assert _agreement(label, est.predict(X)) >= SOURCE_LABEL_AGREEMENT
    np.testing.assert_allclose(proba, _source_scores(est, X), rtol=SOURCE_RTOL, atol=SOURCE_ATOL)


def _source_scores(est, X):
    """What the ONNX probability output holds: predict_proba, or the decision function (LinearSVC;
    SVC without probabilities, whose two-class scores skl2onnx writes as ``[d, -d]``, libsvm's sign)."""
    if isinstance(est, LinearSVC) or (isinstance(est, SVC) and not hasattr(est, "predict_proba")):
        d = est.decision_function(X)
        return np.stack([d, -d], axis=1) if d.ndim == 1 else d
    return est.predict_proba(X)


@pytest.mark.parametrize("name", list(REGRESSORS))
def test_regressor_matches_ort_and_source(name, tmp_path):
    factory, kind, converter, zipmap, how = REGRESSORS[name]
    est, model = _fit(factory, kind, converter, zipmap)
    cm = cmlc.compile(_source(model, how, tmp_path), target="llvm")
    assert not hasattr(cm, "predict_proba") and not hasattr(cm, "transform")
    X = _fresh(kind)
    (ref,) = _ort(model, X)
    out = cm.predict(X)
    assert out.dtype == np.float32 and out.shape == ref.shape == (len(X), 1)
    np.testing.assert_allclose(out, ref, rtol=ORT_RTOL, atol=ORT_ATOL * max(1.0, float(np.abs(ref).max())))
    np.testing.assert_allclose(out[:, 0], est.predict(X), rtol=SOURCE_RTOL, atol=SOURCE_ATOL * float(np.abs(ref).max()))
    one = cm.predict(X[:1])
    assert one.shape == (1, 1)
    np.testing.assert_allclose(one, ref[:1], rtol=ORT_RTOL, atol=ORT_ATOL * max(1.0, float(np.abs(ref).max())))


@pytest.mark.parametrize("name", list(TRANSFORMERS))
def test_transformer_matches_ort_and_source(name, tmp_path):
    factory, kind, converter, zipmap, how = TRANSFORMERS[name]
    est, model = _fit(factory, kind, converter, zipmap)
    cm = cmlc.compile(_source(model, how, tmp_path), target="llvm")
    assert not hasattr(cm, "predict")
    X = _fresh(kind)
    (ref,) = _ort(model, X)
    out = cm.transform(X)
    assert out.dtype == ref.dtype and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=ORT_RTOL, atol=ORT_ATOL)
    np.testing.assert_allclose(out, est.transform(X), rtol=SOURCE_RTOL, atol=SOURCE_ATOL)


@pytest.fixture(scope="module")
def forest():
    """(compiled model, ONNX model) of a small string-label forest (ZipMap on)."""
    est, model = _fit(lambda: RandomForestClassifier(5, max_depth=3, random_state=0), "strings", _skl, True)
    return cmlc.compile(model, target="llvm"), model


def test_one_row_and_float64_input(forest):
    cm, model = forest
    X = _fresh("multi", n=9, seed=11)
    ref_label, ref_proba = _ort(model, X)
    for i in range(3):   # one row at a time
        np.testing.assert_array_equal(cm.predict(X[i:i + 1]), ref_label[i:i + 1])
        np.testing.assert_allclose(cm.predict_proba(X[i:i + 1]), _as_array(ref_proba, cm.classes_)[i:i + 1],
                                   rtol=ORT_RTOL, atol=ORT_ATOL)
    # float64 data is rounded to the model's float32 input first, as feeding ORT float32 data
    np.testing.assert_array_equal(cm.predict(X.astype(np.float64)), ref_label)


def test_wrong_feature_count_raises_input_error(forest):
    cm, _ = forest
    with pytest.raises(InputError, match="features"):
        cm.predict(np.zeros((3, N_FEATURES + 1), np.float32))


def _single_node_model(node, outputs, n_features=3, ml_opset=3):
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, n_features])],
                              [helper.make_tensor_value_info(n, t, None) for n, t in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", ml_opset)])


@pytest.mark.parametrize("op", ["TopK", "LpNormalization"])
def test_unsupported_op_is_named(op):
    if op == "TopK":
        k = helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array([2], np.int64)))
        node = helper.make_node("TopK", ["X", "k"], ["values", "indices"])
        graph = helper.make_graph([k, node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
                                  [helper.make_tensor_value_info("values", TensorProto.FLOAT, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    else:
        model = _single_node_model(helper.make_node("LpNormalization", ["X"], ["y"]), [("y", TensorProto.FLOAT)])
    with pytest.raises(UnsupportedModelError, match=f"{op}.*Supported ops: .*TreeEnsembleClassifier"):
        cmlc.compile(model, target="llvm")


def test_not_an_onnx_blob_raises_clear_error(tmp_path):
    with pytest.raises(UnsupportedModelError, match="not a serialized ONNX model|holds no ONNX graph"):
        cmlc.compile(b"\x00\xffthis is not a protobuf\x01\x02", target="llvm")
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"")
    with pytest.raises(UnsupportedModelError, match="holds no ONNX graph"):
        cmlc.compile(bad, target="llvm")


@pytest.mark.parametrize("kernel", ["rbf", "sigmoid"])
def test_multiclass_svc_probabilities_reference(kernel):
    """SVC(probability=True), 3 classes, ZipMap off: the ECG's numpy reference vs ORT and the source."""
    est, model = _fit(lambda: SVC(kernel=kernel, probability=True, random_state=0), "multi", _skl, False)
    X = _fresh("multi")
    _assert_reference_matches_ort(model, X)
    spec = convert(model)
    out = evaluate(spec.graph, X.astype(np.float64))
    assert _agreement(spec.classes[out["predict"]], est.predict(X)) >= SOURCE_LABEL_AGREEMENT
    np.testing.assert_allclose(out["predict_proba"], est.predict_proba(X), rtol=SOURCE_RTOL, atol=SOURCE_ATOL)


# --- hand-built graphs: ORT's tree and linear rules, checked with the compiled model and the numpy reference ---

def _assert_reference_matches_ort(model, X):
    """The compiled model's outputs equal ORT's (labels exactly, scores within ORT_RTOL) and the
    ECG's numpy reference (labels exactly, scores to float32 rounding: the same float32 graph)."""
    spec, cm = convert(model), cmlc.compile(model, target="llvm")
    out = evaluate(spec.graph, X.astype(np.float64))
    ref = _ort(model, X)
    if spec.classes is not None:
        label, proba = cm.predict(X), cm.predict_proba(X)
        np.testing.assert_array_equal(label, ref[0])
        np.testing.assert_array_equal(spec.classes[out["predict"]], ref[0])
        np.testing.assert_allclose(proba, _as_array(ref[1], spec.classes), rtol=ORT_RTOL, atol=ORT_ATOL)
        np.testing.assert_allclose(proba, out["predict_proba"], rtol=REFERENCE_RTOL, atol=REFERENCE_ATOL)
    else:
        (method,) = out
        compiled = getattr(cm, method)(X)
        np.testing.assert_allclose(compiled, ref[0], rtol=ORT_RTOL, atol=ORT_ATOL)
        np.testing.assert_allclose(compiled, out[method], rtol=REFERENCE_RTOL, atol=REFERENCE_ATOL)


def _inputs_at_thresholds():
    X = np.random.RandomState(5).randn(60, 3).astype(np.float32)
    X[::4, 0] = np.nan
    X[1::4, 0] = 0.5        # exactly at the thresholds below
    X[2::4, 1] = 0.25
    X[3::4, 2] = -0.125
    return X


MIXED_TREES = dict(
    nodes_treeids=[0, 0, 0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 3, 4, 0, 1, 2],
    nodes_featureids=[0, 1, 0, 0, 0, 2, 0, 0],
    nodes_values=[0.5, 0.25, 0, 0, 0, -0.125, 0, 0],
    nodes_truenodeids=[1, 2, 0, 0, 0, 1, 0, 0], nodes_falsenodeids=[4, 3, 0, 0, 0, 2, 0, 0],
    nodes_missing_value_tracks_true=[1, 0, 0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("modes", [("BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"), ("BRANCH_LEQ", "BRANCH_GT", "BRANCH_GT"),
                                   ("BRANCH_GTE", "BRANCH_LT", "BRANCH_LT")])
@pytest.mark.parametrize("aggregate", ["SUM", "AVERAGE"])
def test_tree_modes_missing_tracks_and_aggregates(modes, aggregate):
    a, b, c = modes
    node = helper.make_node(
        "TreeEnsembleRegressor", ["X"], ["y"], domain="ai.onnx.ml", n_targets=1, aggregate_function=aggregate,
        nodes_modes=[a, b, "LEAF", "LEAF", "LEAF", c, "LEAF", "LEAF"], base_values=[0.5],
        target_treeids=[0, 0, 0, 1, 1], target_nodeids=[2, 3, 4, 1, 2], target_ids=[0] * 5,
        target_weights=[1.0, 2.0, 3.0, 10.0, 20.0], **MIXED_TREES)
    _assert_reference_matches_ort(_single_node_model(node, [("y", TensorProto.FLOAT)]), _inputs_at_thresholds())


@pytest.mark.parametrize("mode", ["BRANCH_EQ", "BRANCH_NEQ"])
def test_tree_equality_modes_are_refused(mode):
    node = helper.make_node(
        "TreeEnsembleRegressor", ["X"], ["y"], domain="ai.onnx.ml", n_targets=1,
        nodes_modes=[mode, "BRANCH_LEQ", "LEAF", "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"],
        target_treeids=[0, 0, 0, 1, 1], target_nodeids=[2, 3, 4, 1, 2], target_ids=[0] * 5,
        target_weights=[1.0, 2.0, 3.0, 10.0, 20.0], **MIXED_TREES)
    with pytest.raises(UnsupportedModelError, match=mode):
        convert(_single_node_model(node, [("y", TensorProto.FLOAT)]))


@pytest.mark.parametrize("post", ["LOGISTIC", "SOFTMAX", "NONE"])
@pytest.mark.parametrize("base", [[], [0.25], [0.1, 0.3]])
@pytest.mark.parametrize("weighted_class", [0, 1])
def test_binary_tree_classifier_rules(post, base, weighted_class):
    """Weights on one class (ORT's binary_case) with 0, 1 or 2 base values; labels 3 / 7."""
    node = helper.make_node(
        "TreeEnsembleClassifier", ["X"], ["label", "scores"], domain="ai.onnx.ml", classlabels_int64s=[3, 7],
        nodes_modes=["BRANCH_LEQ", "BRANCH_LEQ", "LEAF", "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"],
        class_treeids=[0, 0, 0, 1, 1], class_nodeids=[2, 3, 4, 1, 2], class_ids=[weighted_class] * 5,
        class_weights=[0.2, -0.4, 0.3, 0.35, -0.1], post_transform=post, **MIXED_TREES)
    if base:
        node.attribute.append(helper.make_attribute("base_values", base))
    model = _single_node_model(node, [("label", TensorProto.INT64), ("scores", TensorProto.FLOAT)])
    _assert_reference_matches_ort(model, _inputs_at_thresholds())


@pytest.mark.parametrize("post", ["LOGISTIC", "SOFTMAX", "NONE"])
def test_single_score_linear_classifier(post):
    node = helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain="ai.onnx.ml",
                            coefficients=[1.0, -2.0, 0.5], intercepts=[0.1], classlabels_ints=[3, 7],
                            post_transform=post)
    model = _single_node_model(node, [("label", TensorProto.INT64), ("scores", TensorProto.FLOAT)])
    _assert_reference_matches_ort(model, np.random.RandomState(0).randn(50, 3).astype(np.float32) * 4)


def test_opset5_tree_ensemble():
    node = helper.make_node(
        "TreeEnsemble", ["X"], ["y"], domain="ai.onnx.ml", n_targets=2, aggregate_function=1, post_transform=0,
        tree_roots=[0, 2], nodes_featureids=[0, 1, 2],
        nodes_splits=numpy_helper.from_array(np.array([0.5, 0.25, -0.125], np.float32)),
        nodes_modes=numpy_helper.from_array(np.array([1, 2, 3], np.uint8)),
        nodes_truenodeids=[1, 0, 2], nodes_trueleafs=[0, 1, 1], nodes_falsenodeids=[1, 1, 3], nodes_falseleafs=[1, 1, 1],
        nodes_missing_value_tracks_true=[1, 0, 0], leaf_targetids=[0, 1, 0, 1],
        leaf_weights=numpy_helper.from_array(np.array([1.0, 2.0, 3.0, 4.0], np.float32)))
    model = _single_node_model(node, [("y", TensorProto.FLOAT)], ml_opset=5)
    X = _inputs_at_thresholds()
    _assert_reference_matches_ort(model, X)
