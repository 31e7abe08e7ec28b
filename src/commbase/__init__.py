"""commbase: a self-hosted backend for voice, video and chat businesses."""

__version__ = "0.1.0"
