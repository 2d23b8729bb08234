"""The list of supported estimators, generated from the frontend registry (never written by hand).

``python -m cmlc.support_table`` prints the markdown table the README embeds.
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


def update_readme(path) -> bool:
    """Rewrite the block between the ``supported`` markers of ``path``; True if it changed."""
    import re
    from pathlib import Path
    text = Path(path).read_text()
    new = re.sub(r"(<!-- supported:start -->\n).*?(<!-- supported:end -->)",
                 lambda m: m.group(1) + markdown_table() + "\n" + m.group(2), text, flags=re.S)
    Path(path).write_text(new)
    return new != text


if __name__ == "__main__":
    import sys
    if sys.argv[1:2] == ["--update-readme"]:
        print("README updated" if update_readme(sys.argv[2] if len(sys.argv) > 2 else "README.md") else "README already current")
    else:
        print(markdown_table())
