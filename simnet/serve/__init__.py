"""The web service (``simnet serve``): FastAPI over an index and its model."""

from simnet.serve.app import Limits, create_app

__all__ = ["Limits", "create_app"]
