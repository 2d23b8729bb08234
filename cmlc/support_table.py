"""The list of supported estimators, generated from the frontend registry (never written by hand).

``python -m cmlc.support_table`` prints the markdown table the README embeds.
"""
from __future__ import annotations

from cmlc.frontends import REGISTRY

_TEXT = "its input is not a numeric matrix (text, dicts, labels or images)"
_NOT_YET = "row-local, not compiled yet: "
#: scikit-learn estimators with an inference method that cmlc does not compile, and why
#: (``tests/test_coverage.py`` keeps the list true: it fails when one of them compiles)
NOT_COMPILED = {
    "CountVectorizer": _TEXT, "TfidfVectorizer": _TEXT, "HashingVectorizer": _TEXT, "DictVectorizer": _TEXT,
    "FeatureHasher": _TEXT, "LabelBinarizer": _TEXT, "LabelEncoder": _TEXT, "MultiLabelBinarizer": _TEXT,
    "PatchExtractor": _TEXT,
    "BernoulliRBM": "score_samples flips a random unit of each row at every call: no fixed answer to compile",
    "LocalOutlierFactor": "with novelty=False (the default) it has no method for new rows; novelty=True "
                          "(score_samples from the training rows' reachability) is not compiled yet",
    "NMF": "transform iterates a solver until a tolerance over the whole batch is met: the answer for a row "
           "depends on the other rows of the call",
    "MiniBatchNMF": "transform iterates a solver until a tolerance over the whole batch is met: the answer for a "
                    "row depends on the other rows of the call",
    "LatentDirichletAllocation": _NOT_YET + "each row iterates its E-step until it converges (a loop with a "
                                 "data-dependent trip count per row, which no ECG op expresses yet)",
    "DictionaryLearning": _NOT_YET + "orthogonal matching pursuit per row (a greedy solve) has no ECG op yet",
    "MiniBatchDictionaryLearning": _NOT_YET + "orthogonal matching pursuit per row (a greedy solve) has no ECG op yet",
    "SparseCoder": _NOT_YET + "orthogonal matching pursuit per row (a greedy solve) has no ECG op yet",
    "LocallyLinearEmbedding": _NOT_YET + "a small least-squares solve per row against its training neighbours",
    "AdaBoostRegressor": _NOT_YET + "the weighted median of the trees' predictions needs a per-row sort",
    "BisectingKMeans": _NOT_YET + "the bisecting tree of centres",
    "GaussianProcessClassifier": _NOT_YET + "the Laplace approximation's predictive probabilities",
    "GaussianProcessRegressor": _NOT_YET + "kernel objects of sklearn.gaussian_process.kernels",
    "Isomap": _NOT_YET + "geodesic distances through the training graph",
    "IsotonicRegression": _NOT_YET + "its input is one-dimensional (np.interp over the fitted thresholds)",
    "KNNImputer": _NOT_YET + "NaN-aware distances to the training rows and a top-k per missing entry",
    "KNeighborsTransformer": _NOT_YET + "its output is a sparse neighbour graph",
    "RadiusNeighborsTransformer": _NOT_YET + "its output is a sparse neighbour graph",
    "RadiusNeighborsClassifier": _NOT_YET + "a variable number of neighbours per row",
    "RadiusNeighborsRegressor": _NOT_YET + "a variable number of neighbours per row",
    "KernelDensity": _NOT_YET + "a log-sum of kernels over the training rows",
    "PolynomialCountSketch": _NOT_YET + "an FFT per row",
    "QuantileTransformer": _NOT_YET + "np.interp over each feature's quantiles",
    "TargetEncoder": _NOT_YET + "the category lookup of each feature",
}


def supported() -> list[dict]:
    """One dict per supported estimator class: ``name``, ``module``, ``family``, ``notes``."""
    rows = [{"name": cls.__name__, "module": cls.__module__.split("._")[0], "family": e.family, "notes": e.notes}
            for cls, e in REGISTRY.entries.items()]
    return sorted(rows, key=lambda r: (r["family"], r["name"]))


def markdown_table() -> str:
    lines = ["| estimator | module | family | notes |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['name']} | `{r['module']}` | {r['family']} | {r['notes']} |" for r in supported()]
    return "\n".join(lines)


def not_compiled_table() -> str:
    lines = ["| estimator | why cmlc does not compile it |", "| --- | --- |"]
    return "\n".join(lines + [f"| {name} | {why} |" for name, why in sorted(NOT_COMPILED.items())])


def update_readme(path) -> bool:
    """Rewrite the block between the ``supported`` markers of ``path``; True if it changed."""
    import re
    from pathlib import Path
    text = Path(path).read_text()
    new = re.sub(r"(<!-- supported:start -->\n).*?(<!-- supported:end -->)",
                 lambda m: m.group(1) + markdown_table() + "\n" + m.group(2), text, flags=re.S)
    new = re.sub(r"(<!-- not-compiled:start -->\n).*?(<!-- not-compiled:end -->)",
                 lambda m: m.group(1) + not_compiled_table() + "\n" + m.group(2), new, flags=re.S)
    Path(path).write_text(new)
    return new != text


if __name__ == "__main__":
    import sys
    if sys.argv[1:2] == ["--update-readme"]:
        print("README updated" if update_readme(sys.argv[2] if len(sys.argv) > 2 else "README.md") else "README already current")
    else:
        print(markdown_table())
