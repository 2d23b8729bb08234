"""Install layout and the generated documentation."""
import pathlib
import re

import cmlc
import cmlc.kernels
import cmlc.passes
from cmlc.support_table import markdown_table

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_kernels_and_passes_install_under_cmlc():
    assert cmlc.kernels.__name__ == "cmlc.kernels" and cmlc.passes.__name__ == "cmlc.passes"
    assert pathlib.Path(cmlc.kernels.__file__).parent.name == "kernels"
    assert "constant_folding" in cmlc.passes.PASSES


def test_readme_supported_table_is_generated_from_the_registry():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- supported:start -->\n(.*?)<!-- supported:end -->", readme, re.S)
    assert block, "README lacks the generated supported-estimators block"
    assert block.group(1).strip() == markdown_table().strip(), "run: python -m cmlc.support_table --update-readme"


def test_supported_lists_every_registered_class():
    names = {r["name"] for r in cmlc.supported()}
    assert {"LogisticRegression", "Pipeline", "StandardScaler", "LinearSVC", "TweedieRegressor"} <= names
