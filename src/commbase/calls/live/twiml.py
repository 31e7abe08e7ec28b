"""The TwiML and URL that put a Twilio call on commbase's ConversationRelay socket
(no imports from the rest of the live channel: the Twilio provider uses it)."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

RELAY_PATH = "/v1/providers/twilio/relay/{call_id}"
STREAM_PATH = "/v1/providers/twilio/stream/{call_id}"  # Media Streams (audio mode)


def relay_url(public_base_url: str, call_id: str, *, path: str = RELAY_PATH) -> str:
    """The wss:// URL Twilio connects to for ``call_id`` (and signs)."""
    base = public_base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return base + path.format(call_id=call_id)


def stream_url(public_base_url: str, call_id: str) -> str:
    """The wss:// URL of ``call_id``'s Media Streams socket (audio mode)."""
    return relay_url(public_base_url, call_id, path=STREAM_PATH)


def media_stream_twiml(*, url: str) -> str:
    """TwiML that streams the answered call's audio, both ways, to commbase."""
    return f"<Response><Connect><Stream url={quoteattr(url)}/></Connect></Response>"


def conversation_relay_twiml(*, url: str, language: str = "en-US") -> str:
    """TwiML that bridges the answered call to commbase's relay socket."""
    relay = f"<ConversationRelay url={quoteattr(url)} language={quoteattr(language)}/>"
    return f"<Response><Connect>{relay}</Connect></Response>"
