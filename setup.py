"""cmlc: compile trained classical-ML models to native kernels through Apache TVM."""
import re
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "cmlc" / "version.py").read_text()).group(1)

# kernels/ and passes/ live at the top level but install as cmlc.kernels / cmlc.passes.
PACKAGE_DIR = {"cmlc": "cmlc", "cmlc.kernels": "kernels", "cmlc.passes": "passes"}
# cmlc/kernels and cmlc/passes are symlinks to them (so tools that read the package from the file
# system, e.g. lint-imports, see it as installed): find_packages("cmlc") must not list them again.
PACKAGES = (["cmlc"] + [f"cmlc.{p}" for p in find_packages("cmlc", exclude=["kernels", "kernels.*", "passes", "passes.*"])]
            + ["cmlc.kernels"] + [f"cmlc.kernels.{p}" for p in find_packages("kernels")]
            + ["cmlc.passes"] + [f"cmlc.passes.{p}" for p in find_packages("passes")])

TORCH = ["torch==2.13.0"]
ONNX = ["onnx>=1.16"]
XGBOOST = ["xgboost>=2.0"]
LIGHTGBM = ["lightgbm>=4.0"]
CATBOOST = ["catboost>=1.2"]
TUNE = XGBOOST            # the tuner's cost model
DASK = ["dask[distributed,dataframe]>=2024.1"]
SPARK = ["pyspark>=3.5", "pandas>=2", "pyarrow>=15"]    # pandas UDFs need pandas and pyarrow; Spark needs a Java runtime
# The ONNX toolchain the ONNX importer's tests and the benchmarks compare with, pinned to versions
# that install together with the pins below and torch 2.13.0 (hummingbird-ml 0.4.12 caps onnx at 1.16.1).
ONNX_TEST = ["onnx==1.16.1", "onnxruntime==1.32.0", "skl2onnx==1.20.0", "onnxmltools==1.16.0"]
# the linters .ci/lint runs (pinned: a new ruff release may add findings to the same rule set)
LINT = ["ruff==0.17.6", "import-linter==2.17"]
DEV = (["pytest>=8", "pytest-xdist>=3", "hypothesis>=6", "pandas>=2", "pyarrow>=15", "pyspark==4.3.0"]
       + XGBOOST + ["lightgbm==4.6.0", "catboost==1.2.10"] + ONNX_TEST + DASK + LINT)
# Peers for `python -m bench`.
BENCH = ONNX_TEST + ["hummingbird-ml==0.4.12", "treelite==4.8.1", "tl2cgen==1.0.0", "xgboost==3.2.0",
                     "scikit-learn-intelex==2026.2.0", "matplotlib==3.11.2"] + TORCH

setup(
    name="cmlc",
    version=VERSION,
    description="Compile trained scikit-learn / XGBoost / LightGBM / CatBoost / torch models to fast native kernels with Apache TVM",
    long_description=(ROOT / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=PACKAGES,
    package_dir=PACKAGE_DIR,
    install_requires=[
        "apache-tvm==0.27.0.post1",
        # 0.1.15.x segfaults in MetaSchedule and tvm.ir.save_json: keep this pin with apache-tvm's.
        "apache-tvm-ffi==0.1.14.post1",
        "numpy>=1.26",
        "scipy>=1.11",
        "scikit-learn>=1.5",
        "platformdirs>=3",    # the tuning records' cache directory
        "tqdm>=4.60",         # the tuner's progress bar
    ],
    extras_require={
        "torch": TORCH,
        "onnx": ONNX,
        "xgboost": XGBOOST,
        "lightgbm": LIGHTGBM,
        "catboost": CATBOOST,
        "tune": TUNE,
        "dask": DASK,
        "spark": SPARK,
        "dev": DEV + TORCH,
        "bench": BENCH,
    },
    entry_points={"console_scripts": ["cmlc = cmlc.cli:main"]},
)
