"""The figures the model-output tests record (pytest's record_property), one column per ISA.

    python tools/isa/table.py out/isa/AVX2.xml out/isa/AVX512.xml ...

Each XML is what `make test-isa ISA=...` writes (pytest --junitxml); a failed test is marked.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def read(path: Path) -> dict[str, dict[str, str]]:
    figures: dict[str, dict[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        failed = case.find("failure") is not None or case.find("error") is not None
        for prop in case.iter("property"):
            value = prop.get("value", "")
            figures.setdefault(f"{name} {prop.get('name')}", {})[path.stem] = value + (" FAIL" if failed else "")
    return figures


def main(paths: list[str]) -> None:
    columns = [Path(p) for p in paths]
    rows: dict[str, dict[str, str]] = {}
    for path in columns:
        for key, cells in read(path).items():
            rows.setdefault(key, {}).update(cells)
    width = max(map(len, rows), default=10)
    print(f"{'test figure':<{width}}  " + "  ".join(f"{p.stem:>10}" for p in columns))
    for key in sorted(rows):
        print(f"{key:<{width}}  " + "  ".join(f"{rows[key].get(p.stem, '-'):>10}" for p in columns))


if __name__ == "__main__":
    main(sys.argv[1:])
