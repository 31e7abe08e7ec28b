"""The organization's settings an inbound call is routed by.

Seed 004's ``ai_settings`` (working hours, maximum call duration, language, voice,
tone) are kept in the organization's settings, ``settings.ai_settings``, and read
in its time zone. Unreadable values fall back to the defaults, so a bad setting
never turns callers away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from commbase.identity.models import Organization
from commbase.identity.schemas import AISettings

SETTINGS_KEY = "ai_settings"
# BCP 47 tags the carrier's speech needs, for the two-letter languages seeds use.
REGIONS = {
    "en": "en-US",
    "cs": "cs-CZ",
    "sk": "sk-SK",
    "de": "de-DE",
    "fr": "fr-FR",
    "es": "es-ES",
    "it": "it-IT",
    "pl": "pl-PL",
    "pt": "pt-BR",
    "nl": "nl-NL",
}
GREETINGS = {
    "en": "Thank you for calling. We are closed right now.",
    "cs": "Děkujeme za zavolání. Momentálně máme zavřeno.",
    "sk": "Ďakujeme za zavolanie. Momentálne máme zatvorené.",
    "de": "Vielen Dank für Ihren Anruf. Wir haben gerade geschlossen.",
}
VOICEMAIL_PROMPT = {
    "en": "Please leave a message after the tone.",
    "cs": "Zanechte prosím vzkaz po zaznění tónu.",
    "sk": "Zanechajte prosím odkaz po zaznení tónu.",
    "de": "Bitte hinterlassen Sie eine Nachricht nach dem Signalton.",
}
UNAVAILABLE = {"en": "Sorry, this number cannot take calls right now. Goodbye."}


@dataclass(frozen=True)
class InboundPolicy:
    working_hours: dict[str, str]
    max_call_duration_s: int
    language: str  # as set: "en", "cs", "en-GB"
    voice_preference: str
    tone: str
    timezone: str

    @property
    def locale(self) -> str:
        """The language as the carrier's speech wants it (``en-US``)."""
        return self.language if "-" in self.language else REGIONS.get(self.language, "en-US")

    def _text(self, table: dict[str, str]) -> str:
        return table.get(self.language.split("-")[0], table["en"])

    def greeting(self, custom: str | None) -> str:
        return custom or self._text(GREETINGS)

    @property
    def voicemail_prompt(self) -> str:
        return self._text(VOICEMAIL_PROMPT)

    @property
    def unavailable(self) -> str:
        return self._text(UNAVAILABLE)


def policy_of(org: Organization) -> InboundPolicy:
    raw: Any = (org.settings or {}).get(SETTINGS_KEY)
    try:
        ai = AISettings.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError:
        ai = AISettings()
    language = ai.language if isinstance(raw, dict) and "language" in raw else org.language
    return InboundPolicy(
        working_hours={str(day): str(hours) for day, hours in ai.working_hours.items()},
        max_call_duration_s=ai.max_call_duration,
        language=language or "en",
        voice_preference=ai.voice_preference,
        tone=ai.tone,
        timezone=org.timezone,
    )
