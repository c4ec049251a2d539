"""The web service (``simnet serve``): FastAPI over an index and its model."""

from simnet.extras import require

require("serve", "the web service")

from simnet.serve.app import Limits, create_app, server_config  # noqa: E402

__all__ = ["Limits", "create_app", "server_config"]
