"""Every generated table of README.md (bench/readme.py) is what its committed results give.

A number edited by hand in the README, or a results file under bench/results/ changed without
regenerating the README, fails here.
"""
import pytest

from bench import readme


@pytest.mark.parametrize("name", sorted(readme.BLOCKS))
def test_readme_block_matches_the_committed_results(name):
    in_readme = readme.block_in(readme.README.read_text(), name)
    assert in_readme == readme.BLOCKS[name](), (
        f"README.md's '{name}' block differs from what bench/results/ gives: run `python -m bench.readme` "
        "and commit the README with the results")
