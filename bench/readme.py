"""The README's generated tables, each rebuilt from the results committed under bench/results/.

    python -m bench.readme      # rewrites every block of README.md; prints which ones changed

Each table stands in README.md between ``<!-- bench:NAME:start -->`` and
``<!-- bench:NAME:end -->``; :data:`BLOCKS` names them and the files each comes from.
``python -m bench --update-readme`` rewrites the ``results`` block from the run it has just made.
tests/test_readme_numbers.py fails when a block differs from what its files give.
"""
from __future__ import annotations

from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "bench" / "results"


def _run(folder: Path) -> tuple[list[dict], dict, str]:
    """Returns the rows and the context of the ``python -m bench`` run in ``folder``, and the
    repository path of its results.md."""
    md = folder / "results.md"
    return report.read_csv(folder / "results.csv"), report.read_context(md), md.relative_to(ROOT).as_posix()


# block name -> the block, generated from the committed files
BLOCKS = {
    # the full run: every workload and peer, batch 1 / 1,000 / 100,000
    "results": lambda: report.readme_summary(*_run(RESULTS)[:2]),
    # cmlc / ONNX Runtime at batch 1, per threads and input dtype
    "callpath": lambda: report.callpath_summary(*_run(RESULTS / "callpath")),
    # GB/s of input read at the largest batch, next to np.copyto
    "bandwidth": lambda: report.bandwidth_summary(*_run(RESULTS / "bandwidth")),
    # the dense models at 1,000 and 100,000 rows against every peer, GB/s and GFLOP/s reached
    "dense": lambda: report.dense_summary(*_run(RESULTS / "dense")),
    # the kNN workload of the same grid (scikit-learn only: ONNX Runtime takes 30-45 s a call at 100,000 rows)
    "dense-knn": lambda: report.dense_summary(*_run(RESULTS / "dense-knn")),
    # python -m bench.tuning: cmlc's tuner vs MetaSchedule
    "tuning": lambda: report.tuning_summary(report.read_tuning_csv(RESULTS / "tuning.csv"),
                                           report.read_tuning_intro(RESULTS / "tuning.md")),
}


def _markers(name: str) -> tuple[str, str]:
    """Returns the start and end markers of block ``name``."""
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def block_in(text: str, name: str) -> str:
    """Returns block ``name`` of the README ``text``: what stands between its markers, without the
    line breaks next to them."""
    start, end = _markers(name)
    return text[text.index(start) + len(start):text.index(end)].strip("\n")


def update_readme(name: str, block: str, readme: Path = README) -> bool:
    """Writes ``block`` between the markers of block ``name`` in ``readme``; returns whether the
    file changed."""
    start, end = _markers(name)
    text = readme.read_text()
    new = text[:text.index(start) + len(start)] + "\n" + block + "\n" + text[text.index(end):]
    if new != text:
        readme.write_text(new)
    return new != text


if __name__ == "__main__":
    changed = [name for name, generate in BLOCKS.items() if update_readme(name, generate())]
    print(f"{README}: rewrote {', '.join(changed)}" if changed else f"{README}: every block already current")
