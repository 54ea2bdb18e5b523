"""The service's OpenAPI schema, committed as ``docs/openapi.json`` and checked by a test.

Regenerate after changing an endpoint: ``python -m simmatch.service.openapi docs/openapi.json``
(no path: print to stdout)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def openapi_schema() -> dict[str, Any]:
    """The schema of an app with default settings (the schema does not depend on the settings;
    nothing is loaded to build it)."""
    from simmatch.service.app import create_app
    from simmatch.service.settings import ServiceSettings

    return create_app(ServiceSettings()).openapi()


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render(openapi_schema())
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
