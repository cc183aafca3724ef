"""Notebooks are committed clean: no outputs, no execution counts, one `parameters` cell.

Clean a notebook with:
    jupyter nbconvert --clear-output --inplace notebooks/NAME.ipynb
(and drop the notebook-level "widgets" metadata if JupyterLab saved widget state).
"""

import json
from pathlib import Path

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def _problems(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i} has execution_count {cell['execution_count']}")
    if "widgets" in nb.get("metadata", {}):
        problems.append("notebook metadata holds saved widget state ('widgets')")
    tagged = [
        i
        for i, c in enumerate(nb["cells"])
        if "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    if len(tagged) != 1:
        problems.append(f"{len(tagged)} cells tagged 'parameters' (cells {tagged}); need exactly 1")
    elif nb["cells"][tagged[0]]["cell_type"] != "code":
        problems.append("the cell tagged 'parameters' is not a code cell")
    return [f"{path.name}: {p}" for p in problems]


def test_every_notebook_is_clean():
    assert NOTEBOOKS_DIR.is_dir(), f"{NOTEBOOKS_DIR} is missing"
    # Passes vacuously only while notebooks/ holds no notebook yet.
    problems = [p for path in sorted(NOTEBOOKS_DIR.glob("*.ipynb")) for p in _problems(path)]
    assert not problems, "notebooks not committed clean:\n" + "\n".join(problems)
