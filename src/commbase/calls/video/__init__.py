"""Video rooms in the browser: rooms on calls of kind video, guest links, participants
with short-lived access tokens, WebSocket signalling (mesh) or an SFU, quality samples."""
