"""listrak-feeds: build, test and deliver Listrak import feeds."""

__version__ = "0.1.0"
