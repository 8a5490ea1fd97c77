"""The HTTP surface: the app factory and the routes that compose several services."""

from tessera.api.app import create_app, run_worker

__all__ = ["create_app", "run_worker"]
