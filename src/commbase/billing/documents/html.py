"""A billing document as a standalone, printable HTML page; every value escaped."""

from __future__ import annotations

from html import escape

from commbase.billing.documents.model import Document, Party

STYLE = """
body{font-family:Helvetica,Arial,sans-serif;color:#222;max-width:780px;margin:2em auto}
h1{font-size:1.6em;margin:0}.muted{color:#666}.parties{display:flex;gap:4em;margin:1.5em 0}
table{border-collapse:collapse;width:100%}th,td{padding:.4em;border-bottom:1px solid #ddd}
th{text-align:left}td.n,th.n{text-align:right}.totals td{border:none}.grand td{font-weight:bold}
"""


def _party(label: str, party: Party) -> str:
    lines = "".join(f"<div>{escape(line)}</div>" for line in party.lines)
    return (
        f'<div><div class="muted">{escape(label)}</div>'
        f"<strong>{escape(party.name)}</strong>{lines}</div>"
    )


def render(document: Document) -> str:
    d = document
    facts = "".join(
        f'<tr><td class="muted">{escape(k)}</td><td>{escape(v)}</td></tr>' for k, v in d.facts
    )
    rows = "".join(
        f"<tr><td>{escape(line.description)}</td><td class='n'>{line.quantity}</td>"
        f"<td class='n'>{escape(d.money(line.unit_amount))}</td>"
        f"<td class='n'>{escape(d.money(line.amount))}</td></tr>"
        for line in d.lines
    )
    last = len(d.totals) - 1
    totals = "".join(
        f"<tr class='{'grand' if i == last else 'sub'}'><td colspan='3' class='n'>"
        f"{escape(label)}</td><td class='n'>{escape(d.money(amount))}</td></tr>"
        for i, (label, amount) in enumerate(d.totals)
    )
    memo = f"<p>{escape(d.memo)}</p>" if d.memo else ""
    title = f"{d.title} {d.number}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><div class="muted">{escape(d.status)}</div>'
        f'<div class="parties">{_party("From", d.seller)}{_party("Billed to", d.buyer)}</div>'
        f"<table>{facts}</table><br>"
        "<table><thead><tr><th>Description</th><th class='n'>Qty</th>"
        "<th class='n'>Unit price</th><th class='n'>Amount</th></tr></thead>"
        f"<tbody>{rows}</tbody><tbody class='totals'>{totals}</tbody></table>"
        f"{memo}</body></html>"
    )
