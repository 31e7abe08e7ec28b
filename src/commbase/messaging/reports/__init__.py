"""Chatwoot-style messaging reports per channel account, agent or label."""
