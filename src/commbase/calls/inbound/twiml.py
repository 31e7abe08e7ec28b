"""TwiML for an inbound call's decision (``service.Inbound``), built with the twilio SDK.

* agent / connect: ``<Connect><ConversationRelay url="wss://{public host}/v1/providers/
  twilio/relay/{call id}">`` with the organization's language and the number's voice;
  the live channel (``calls.live``) bridges it to the agent.
* member / forward: ``<Dial>`` the number, limited to the call's allowed duration.
* voicemail: the greeting, then ``<Record>`` whose recording status callback stores
  the message (``calls.recordings``); its ``action`` ends the call.
* after-hours forward: the greeting, then ``<Dial>``; hangup / unavailable: a
  message, then ``<Hangup/>``; rejected (blocked caller): ``<Reject/>``.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from twilio.twiml.voice_response import Connect, VoiceResponse

from commbase.calls.inbound.enums import InboundRoute
from commbase.calls.inbound.service import Inbound
from commbase.calls.phone_numbers.carriers import INBOUND_PATH
from commbase.calls.recordings.callbacks import RECORDING_PATH

RELAY_PATH = "/v1/providers/twilio/relay/{call_id}"
STREAM_PATH = "/v1/providers/twilio/stream/{call_id}"
DONE_PARAMETER = "done"  # the inbound URL with ?done=<call id> ends the call
VOICEMAIL_MAX_S = 300


def relay_url(public_base_url: str, call_id: str, *, path: str = RELAY_PATH) -> str:
    host = urlsplit(public_base_url).netloc
    return f"wss://{host}" + path.format(call_id=call_id)


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def render(inbound: Inbound, *, public_base_url: str) -> str:
    """The TwiML answering ``inbound``."""
    base = public_base_url.rstrip("/")
    call, policy = inbound.call, inbound.policy
    response = VoiceResponse()
    route = inbound.route
    if route == InboundRoute.REJECTED:
        response.reject()
        return str(response)
    if route in (InboundRoute.AGENT, InboundRoute.CONNECT) and call.live_audio:
        # Audio mode: Media Streams frames for an agent with its own speech stack.
        connect = Connect()
        stream = connect.stream(url=relay_url(public_base_url, call.id, path=STREAM_PATH))
        stream.parameter(name="call_id", value=call.id)
        response.append(connect)
        return str(response)
    if route in (InboundRoute.AGENT, InboundRoute.CONNECT):
        connect = Connect()
        relay = connect.conversation_relay(
            url=relay_url(public_base_url, call.id),
            language=policy.locale,
            voice=inbound.number.voice,
        )
        relay.parameter(name="call_id", value=call.id)
        relay.parameter(name="tone", value=policy.tone)
        relay.parameter(name="voice_preference", value=policy.voice_preference)
        response.append(connect)
        return str(response)
    if inbound.greeting:
        response.say(inbound.greeting, language=policy.locale)
    if route in (InboundRoute.MEMBER, InboundRoute.FORWARD, InboundRoute.AFTER_HOURS_FORWARD):
        response.dial(inbound.forward_to, time_limit=inbound.allowed_s)
    elif inbound.records_voicemail:
        response.say(policy.voicemail_prompt, language=policy.locale)
        response.record(
            action=f"{base}{INBOUND_PATH}?{urlencode({DONE_PARAMETER: call.id})}",
            method="POST",
            max_length=min(VOICEMAIL_MAX_S, inbound.allowed_s),
            play_beep=True,
            recording_status_callback=(
                f"{base}{RECORDING_PATH}?{urlencode({'call': call.id, 'kind': 'voicemail'})}"
            ),
            recording_status_callback_method="POST",
            recording_status_callback_event="completed",
        )
    elif route == InboundRoute.UNAVAILABLE:
        response.say(policy.unavailable, language=policy.locale)
    response.hangup()
    return str(response)


def reject() -> str:
    response = VoiceResponse()
    response.reject()
    return str(response)
