"""Install layout and the generated documentation."""
import pathlib
import re

import cmlc
import cmlc.kernels
import cmlc.passes
from cmlc.support_table import markdown_table, not_compiled_table

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_kernels_and_passes_install_under_cmlc():
    assert cmlc.kernels.__name__ == "cmlc.kernels" and cmlc.passes.__name__ == "cmlc.passes"
    assert pathlib.Path(cmlc.kernels.__file__).parent.name == "kernels"
    assert "constant_folding" in cmlc.passes.PASSES


def test_readme_supported_tables_are_generated():
    readme = (ROOT / "README.md").read_text()
    for name, table in (("supported", markdown_table), ("not-compiled", not_compiled_table)):
        block = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", readme, re.S)
        assert block, f"README lacks the generated {name} block"
        assert block.group(1).strip() == table().strip(), "run: python -m cmlc.support_table --update-readme"


def test_supported_lists_every_registered_class():
    names = {r["name"] for r in cmlc.supported()}
    assert {"LogisticRegression", "Pipeline", "StandardScaler", "LinearSVC", "TweedieRegressor"} <= names
