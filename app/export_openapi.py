"""Write the OpenAPI spec: ``python -m app.export_openapi openapi/openapi.json``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.main import app


def render(spec: dict[str, Any]) -> str:
    """The checked-in form: sorted keys, indent 2, trailing newline."""
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Write ``app.openapi()`` to the given path."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path, help="where to write, e.g. openapi/openapi.json")
    path = parser.parse_args(argv).path
    path.write_text(render(app.openapi()), encoding="utf-8")


if __name__ == "__main__":
    main()
