"""What the app factory wires in (the event handlers and the viewer's marks for Status
rendering, handed to the posts service, which cannot import this one), and what the
web app calls."""

from __future__ import annotations

from tessera.interactions.handlers import subscribe_handlers
from tessera.interactions.service import favourite, unfavourite, viewer_marks

__all__ = ["favourite", "subscribe_handlers", "unfavourite", "viewer_marks"]
