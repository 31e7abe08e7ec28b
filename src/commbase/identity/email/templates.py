"""Account email templates: ``templates/<kind>.txt`` (first line ``Subject: ...``)
and ``templates/<kind>.html``, filled with ``string.Template`` (values are
HTML-escaped in the HTML part)."""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from string import Template

from commbase.core.email import Mail
from commbase.identity.accounts.enums import AccountEmail

_FOLDER = Path(__file__).parent / "templates"


@cache
def _load(kind: AccountEmail) -> tuple[Template, Template, Template]:
    text = (_FOLDER / f"{kind.value}.txt").read_text(encoding="utf-8")
    subject_line, _, body = text.partition("\n")
    subject = subject_line.removeprefix("Subject:").strip()
    page = (_FOLDER / f"{kind.value}.html").read_text(encoding="utf-8")
    return Template(subject), Template(body), Template(page)


def render(kind: AccountEmail, *, to: str, values: dict[str, str], message_id: str) -> Mail:
    """The ``kind`` email to ``to`` with ``values`` filled in."""
    subject, body, page = _load(kind)
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    return Mail(
        to=to,
        # A header never carries a line break, whatever a name holds.
        subject=" ".join(subject.safe_substitute(values).split()),
        text=body.safe_substitute(values),
        html=page.safe_substitute(escaped),
        message_id=message_id,
    )
