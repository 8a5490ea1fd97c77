"""Tessera: a self-hostable, Instagram-style photo-sharing service."""

__version__ = "0.1.0"
