"""``python -m simmatch.service``: run the service (same flags as ``simmatch serve``)."""

from simmatch.service.server import serve_main

raise SystemExit(serve_main())
