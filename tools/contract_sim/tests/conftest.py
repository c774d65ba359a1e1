"""The simulator is the package tools/contract_sim: put tools/ on the path for its tests."""

from __future__ import annotations

import sys
from pathlib import Path

TOOLS = str(Path(__file__).resolve().parents[2])
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
