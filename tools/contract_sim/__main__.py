"""`python -m contract_sim [--host H] [--port N]`: run the contract-system simulator."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from contract_sim.app import create_app, settings_from_env


def main() -> None:
    """Serve the simulator under uvicorn."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="contract_sim", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("CONTRACT_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=None, help="default: CONTRACT_SIM_PORT or 8009")
    parser.add_argument(
        "--templates",
        type=Path,
        default=os.environ.get("CONTRACT_SIM_TEMPLATES") or None,
        help="a templates JSON file (default: the shipped demo templates)",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=os.environ.get("CONTRACT_SIM_STATE") or None,
        help="where to keep the people it hires (default: memory only)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = settings_from_env()
    app = create_app(settings, templates_file=args.templates, state_file=args.state)
    uvicorn.run(
        app, host=args.host, port=args.port or settings.port, access_log=False, log_level="info"
    )


if __name__ == "__main__":
    main()
