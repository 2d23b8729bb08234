"""The ``cmlc`` command line: compile each model file format, predict from each batch format,
info, bench, and the errors a user can make."""
import subprocess
import sys

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from cmlc.cli import main
from conftest import classification_data, fresh_rows


@pytest.fixture(scope="module")
def fitted():
    X, y = classification_data(3, n_features=6)
    return X, LogisticRegression(max_iter=500).fit(X, y)


@pytest.fixture(scope="module")
def files(tmp_path_factory, fitted):
    """A model file, its artifact, a batch, a too-wide batch and a text file, by name."""
    X, model = fitted
    folder = tmp_path_factory.mktemp("cli")
    (folder / "m.txt").write_text("hello")
    (folder / "m.dat").write_text("hello")
    joblib.dump(model, folder / "m.joblib")
    main(["compile", str(folder / "m.joblib"), "-o", str(folder / "m.cmlc")])
    np.save(folder / "x.npy", X[:5])
    np.save(folder / "wide.npy", np.hstack([X[:5], X[:5]]))
    return {"model": str(folder / "m"), "artifact": str(folder / "m.cmlc"), "batch": str(folder / "x.npy"),
            "wide": str(folder / "wide.npy")}


def test_compile_predict_info_round_trip(tmp_path, fitted, capsys):
    X, model = fitted
    joblib.dump(model, tmp_path / "m.joblib")
    assert main(["compile", str(tmp_path / "m.joblib"), "-o", str(tmp_path / "m.cmlc")]) == 0
    assert "pickle" in capsys.readouterr().err                      # loading a pickle warns
    rows = fresh_rows(X, 50)
    np.save(tmp_path / "x.npy", rows)
    assert main(["predict", str(tmp_path / "m.cmlc"), "--input", str(tmp_path / "x.npy"), "--output",
                 str(tmp_path / "y.npy")]) == 0
    assert (np.load(tmp_path / "y.npy") == model.predict(rows)).all()
    np.savetxt(tmp_path / "x.csv", rows, delimiter=",", header="a,b,c,d,e,f", comments="")
    assert main(["predict", str(tmp_path / "m.cmlc"), "--input", str(tmp_path / "x.csv"), "--output",
                 str(tmp_path / "p.csv"), "--method", "predict_proba"]) == 0
    np.testing.assert_allclose(np.loadtxt(tmp_path / "p.csv", delimiter=","), model.predict_proba(rows), rtol=1e-12)
    capsys.readouterr()
    assert main(["info", str(tmp_path / "m.cmlc")]) == 0
    info = capsys.readouterr().out
    assert "LogisticRegression" in info and "6 features" in info and "predict_proba (N, 3) float64" in info


def test_parquet_input(tmp_path, fitted):
    pytest.importorskip("pyarrow")
    pandas = pytest.importorskip("pandas")
    X, model = fitted
    joblib.dump(model, tmp_path / "m.pkl")
    main(["compile", str(tmp_path / "m.pkl"), "-o", str(tmp_path / "m.cmlc")])
    pandas.DataFrame(X[:20]).rename(columns=str).to_parquet(tmp_path / "x.parquet")
    assert main(["predict", str(tmp_path / "m.cmlc"), "--input", str(tmp_path / "x.parquet"), "--output",
                 str(tmp_path / "y.csv")]) == 0
    assert (np.loadtxt(tmp_path / "y.csv", delimiter=",") == model.predict(X[:20])).all()


@pytest.mark.parametrize("suffix", [".json", ".ubj"])
def test_xgboost_model_files(tmp_path, suffix):
    xgboost = pytest.importorskip("xgboost")
    X, y = classification_data(2, n_features=5)
    booster = xgboost.XGBClassifier(n_estimators=10, max_depth=3).fit(X, y).get_booster()
    booster.save_model(tmp_path / f"m{suffix}")
    assert main(["compile", str(tmp_path / f"m{suffix}"), "-o", str(tmp_path / "m.cmlc")]) == 0
    np.save(tmp_path / "x.npy", X[:30])
    main(["predict", str(tmp_path / "m.cmlc"), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), booster.predict(xgboost.DMatrix(X[:30])), rtol=1e-6)


def test_lightgbm_model_file(tmp_path):
    lightgbm = pytest.importorskip("lightgbm")
    X, y = classification_data(3, n_features=5)
    booster = lightgbm.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1).fit(X, y).booster_
    booster.save_model(str(tmp_path / "m.txt"))
    assert main(["compile", str(tmp_path / "m.txt"), "-o", str(tmp_path / "m.cmlc")]) == 0
    np.save(tmp_path / "x.npy", X[:30])
    main(["predict", str(tmp_path / "m.cmlc"), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), booster.predict(X[:30]), rtol=1e-12)


def test_onnx_model_file(tmp_path, fitted):
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    X, model = fitted
    onx = skl2onnx.convert_sklearn(model, initial_types=[("X", FloatTensorType([None, 6]))], options={"zipmap": False})
    (tmp_path / "m.onnx").write_bytes(onx.SerializeToString())
    assert main(["compile", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.cmlc")]) == 0
    np.save(tmp_path / "x.npy", X[:30])
    main(["predict", str(tmp_path / "m.cmlc"), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    assert (np.load(tmp_path / "y.npy") == model.predict(X[:30].astype(np.float32))).all()


def test_bench_prints_the_speedup(tmp_path, capsys):
    X, y = classification_data(2, n_features=8)
    joblib.dump(RandomForestClassifier(10, max_depth=4, random_state=0).fit(X, y), tmp_path / "rf.joblib")
    assert main(["bench", str(tmp_path / "rf.joblib"), "--rows", "2000"]) == 0
    out = capsys.readouterr().out
    assert "speedup" in out and "identical" in out


@pytest.mark.parametrize("argv, message", [
    (["compile", "missing.pkl", "-o", "x.cmlc"], "no such file"),
    (["compile", "{model}.dat", "-o", "x.cmlc"], "unknown model format"),
    (["compile", "{model}.txt", "-o", "x.cmlc"], "not a LightGBM model file"),
    (["predict", "{artifact}", "--input", "{model}.txt", "--output", "y.npy"], "unknown batch format"),
    (["predict", "{artifact}", "--input", "{batch}", "--output", "y.txt"], "unknown output format"),
    (["predict", "{artifact}", "--input", "{batch}", "--output", "y.npy", "--method", "transform"], "no method"),
    # attributes that are not prediction methods are refused, with the model's methods listed
    (["predict", "{artifact}", "--input", "{batch}", "--output", "y.npy", "--method", "save"],
     "no method 'save'; it has predict, predict_proba"),
    (["predict", "{artifact}", "--input", "{batch}", "--output", "y.npy", "--method", "__class__"], "no method"),
    (["predict", "{artifact}", "--input", "{batch}", "--output", "y.npy", "--key", "k"], "not signed"),
    (["predict", "{artifact}", "--input", "{wide}", "--output", "y.npy"], "features"),
    (["info", "{model}.txt"], "not a readable cmlc artifact"),
])
def test_errors_are_one_line_and_exit_2(files, capsys, argv, message):
    capsys.readouterr()
    assert main([a.format(**files) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_console_script_and_python_m(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cmlc", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "compile" in out.stdout and "predict" in out.stdout


def test_signed_artifact_from_the_command_line(tmp_path, fitted, capsys, monkeypatch):
    X, model = fitted
    joblib.dump(model, tmp_path / "m.joblib")
    np.save(tmp_path / "x.npy", X[:7])
    artifact = str(tmp_path / "m.cmlc")
    assert main(["compile", str(tmp_path / "m.joblib"), "-o", artifact, "--key", "s3cret"]) == 0
    predict = ["predict", artifact, "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]
    assert main(predict + ["--key", "s3cret"]) == 0
    assert (np.load(tmp_path / "y.npy") == model.predict(X[:7])).all()
    capsys.readouterr()
    assert main(predict + ["--key", "other"]) == 2
    assert "signature does not match" in capsys.readouterr().err
    monkeypatch.setenv("CMLC_ARTIFACT_KEY", "other")          # the key from the environment
    assert main(["info", artifact]) == 2
    monkeypatch.setenv("CMLC_ARTIFACT_KEY", "s3cret")
    assert main(["info", artifact]) == 0
