"""The list of supported estimators, generated from the frontend registry (never written by hand).

``python -m cmlc.supported`` prints the markdown table the README embeds.
"""
from __future__ import annotations

from cmlc.frontends import REGISTRY


def supported() -> list[dict]:
    """One dict per supported estimator class: ``name``, ``module``, ``family``, ``notes``."""
    rows = [{"name": cls.__name__, "module": cls.__module__.split("._")[0], "family": e.family, "notes": e.notes}
            for cls, e in REGISTRY.entries.items()]
    return sorted(rows, key=lambda r: (r["family"], r["name"]))


def markdown_table() -> str:
    lines = ["| estimator | module | family | notes |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['name']} | `{r['module']}` | {r['family']} | {r['notes']} |" for r in supported()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
