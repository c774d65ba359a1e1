"""Exit 1 unless two rendered manifests hold the same objects (order aside).

python same_objects.py kubectl-kustomize.yaml render_kustomize.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml


def objects(path: Path) -> dict[tuple[str, str, str, str], Any]:
    """The objects of a rendered file, keyed by apiVersion, kind, namespace and name."""
    found = {}
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            meta = doc.get("metadata", {})
            found[(doc["apiVersion"], doc["kind"], meta.get("namespace", ""), meta["name"])] = doc
    return found


def main() -> int:
    first, second = (objects(Path(p)) for p in sys.argv[1:3])
    differences = sorted(set(first) ^ set(second)) + sorted(
        k for k in first if k in second and first[k] != second[k]
    )
    for key in differences:
        print(f"ERROR {sys.argv[1]} and {sys.argv[2]} differ on {'/'.join(key)}", file=sys.stderr)
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
