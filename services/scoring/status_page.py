"""The fieldwork status page for operations: server-rendered HTML with an SVG chart.

One row per provider and respondent type: a bar for the response so far, a lighter bar up to
the forecast, and a mark at the requirement. Flagged providers (heading below the requirement)
are marked in text as well as colour. No JavaScript; ids and figures only, never personal data.
The page first asks for a key (``key_form``); it never holds one.
"""

from __future__ import annotations

import uuid
from html import escape
from typing import Any

ROW_HEIGHT = 26
LABEL_WIDTH = 230
BAR_WIDTH = 480
STATUS_TEXT = {
    "met": "requirement met",
    "on_track": "on track",
    "at_risk": "HEADING BELOW requirement",
    "exempt": "always published",
    "no_requirement": "no requirement",
    "no_sample": "no net sample",
}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _x(rate: float | None) -> float:
    return LABEL_WIDTH + BAR_WIDTH * min(1.0, max(0.0, rate or 0.0))


def chart(status: dict[str, Any]) -> str:
    """An SVG bar chart: response so far, forecast and requirement per provider."""
    rows = status["providers"]
    height = ROW_HEIGHT * len(rows) + 40
    width = LABEL_WIDTH + BAR_WIDTH + 160
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img"'
        ' aria-labelledby="chart-title"><title id="chart-title">Response so far, forecast and'
        " requirement per provider</title>"
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = _x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 30}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 14}" font-size="11" text-anchor="middle">{tick:.0%}</text>'
        )
    for i, p in enumerate(rows):
        y = i * ROW_HEIGHT + 4
        colour = "#c0392b" if p["flagged"] else "#2e7d32"
        label = f"{p['provider_id']} ({p['respondent_type']})"
        parts.append(f'<text x="4" y="{y + 15}" font-size="12">{escape(label)}</text>')
        forecast_w = _x(p["forecast_response"]) - LABEL_WIDTH
        so_far_w = _x(p["response_so_far"]) - LABEL_WIDTH
        parts.append(
            f'<rect class="forecast" x="{LABEL_WIDTH}" y="{y}" width="{forecast_w:.1f}" height="18"'
            f' fill="{colour}" fill-opacity="0.3">'
            f"<title>forecast {_pct(p['forecast_response'])}</title></rect>"
        )
        parts.append(
            f'<rect class="so-far" x="{LABEL_WIDTH}" y="{y}" width="{so_far_w:.1f}" height="18"'
            f' fill="{colour}"><title>so far {_pct(p["response_so_far"])}</title></rect>'
        )
        if p["required_response"] is not None and p["status"] != "exempt":
            x = _x(p["required_response"])
            parts.append(
                f'<line class="requirement" x1="{x:.1f}" y1="{y - 2}" x2="{x:.1f}" y2="{y + 20}"'
                ' stroke="#000" stroke-width="2"/>'
            )
        parts.append(
            f'<text x="{LABEL_WIDTH + BAR_WIDTH + 8}" y="{y + 15}" font-size="12">'
            f"{escape(STATUS_TEXT.get(p['status'], p['status']))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(status: dict[str, Any]) -> str:
    head = (
        "<tr><th>Provider</th><th>Respondent type</th><th>Net sample</th><th>Usable</th>"
        "<th>Response so far</th><th>Forecast</th><th>Required</th><th>Status</th></tr>"
    )
    body = []
    for p in status["providers"]:
        required = (
            "–"
            if p["required_usable"] is None
            else f"{p['required_usable']} ({_pct(p['required_response'])})"
        )
        flag = ' class="flagged"' if p["flagged"] else ""
        body.append(
            f"<tr{flag}><td>{escape(p['provider_id'])}</td><td>{escape(p['respondent_type'])}</td>"
            f"<td>{p['net_sample']}</td><td>{p['usable']}</td><td>{_pct(p['response_so_far'])}</td>"
            f"<td>{p['forecast_usable']:.1f} ({_pct(p['forecast_response'])})</td><td>{required}</td>"
            f"<td>{escape(STATUS_TEXT.get(p['status'], p['status']))}</td></tr>"
        )
    return f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def action_form(status: dict[str, Any], invitations_url: str) -> str:
    """The one action for flagged providers: an extra reminder or phone round, sent by the
    invitations service (it holds the waves and the contact details). The form carries a fresh
    wave key, so submitting it twice (a double click, a reload) approaches nobody twice; the
    operator types the admin key, which this page never holds."""
    flagged = ",".join(status["flagged"])
    if not flagged:
        return "<p>No provider is heading below the requirement: no extra wave to send.</p>"
    action = f"{invitations_url.rstrip('/')}/ops/studies/{escape(status['study_id'])}/extra-waves"
    return f"""<form id="extra-wave" method="post" action="{escape(action, quote=True)}">
<fieldset><legend>Extra wave for the flagged providers (non-respondents whose own plan is over)</legend>
<p><label><input type="radio" name="kind" value="reminder" checked> extra reminder
(email, or a letter where email does not reach)</label>
<label><input type="radio" name="kind" value="phone"> phone round
(providers with the phone option)</label></p>
<p><label>Providers <input name="providers" size="60" value="{escape(flagged, quote=True)}"></label></p>
<p><label>Admin key <input type="password" name="api_key" autocomplete="off" required></label></p>
<input type="hidden" name="wave_key" value="ops-{uuid.uuid4().hex}">
<button type="submit">Send extra wave</button></fieldset></form>"""


_STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; }
table { border-collapse: collapse; margin-top: 1rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: right; }
th:first-child, td:first-child, td:nth-child(2) { text-align: left; }
tr.flagged td { background: #fdecea; font-weight: bold; }
fieldset { margin-top: 1rem; max-width: 60rem; }
</style>"""


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{_STYLE}</head>
<body>
{body}
</body></html>
"""


def key_form(study_id: str, *, refused: bool = False) -> str:
    """The page that asks for the key before it shows anything: the admin key (every provider)
    or a provider's own API key (its own rows). The form posts the key to this same address
    (its query string kept), so the key is never in a URL, a link or the page."""
    study = escape(study_id)
    refusal = '<p id="refused" role="alert">Wrong or missing key.</p>' if refused else ""
    return _page(
        f"Fieldwork status {study}",
        f"""<h1>Fieldwork status: {study}</h1>
{refusal}<form id="status-key" method="post">
<p><label>Admin key, or your own API key as a provider
<input type="password" name="api_key" autocomplete="off" required autofocus></label></p>
<button type="submit">Show the status</button></form>""",
    )


def message_page(study_id: str, message: str) -> str:
    """A refusal or other message in place of the status (never figures)."""
    study = escape(study_id)
    return _page(
        f"Fieldwork status {study}",
        f'<h1>Fieldwork status: {study}</h1>\n<p id="message">{escape(message)}</p>',
    )


def _curve_line(status: dict[str, Any]) -> str:
    curve = status["curve"]
    if curve is None:  # a provider's view: the study's curve pools every provider
        return ""
    return f" Response curve of the study: median delay {curve['median_delay_days']:.1f} days."


def render(status: dict[str, Any], *, invitations_url: str | None = None, pipeline: str = "") -> str:
    """The status page: chart and table of the rows in ``status`` (every provider for the
    bureau, a provider's own for a provider); the extra-wave form and the pipeline only when
    given (the bureau's view)."""
    study = escape(status["study_id"])
    requirement = status["requirement"]
    rule = (
        "no scheme: no publication requirement"
        if requirement is None
        else f"at least {requirement['min_usable']} usable questionnaires and"
        f" {requirement['min_response_rate'] * 100:.0f}% response"
    )
    flagged = ", ".join(escape(p) for p in status["flagged"]) or "none"
    return _page(
        f"Fieldwork status {study}",
        f"""<h1>Fieldwork status: {study}</h1>
<p>Scheme {escape(str(status["scheme_id"]))}; requirement: {rule}. Forecast for the end of each
invitation's fieldwork ({status["horizon_days"]:.0f} days after it was sent).{_curve_line(status)}
As of {escape(status["as_of"])}.</p>
<p>Heading below the requirement: <strong id="flagged">{flagged}</strong></p>
<p>Dark bar: response so far; light bar: forecast; black mark: requirement.</p>
{chart(status)}
{_table(status)}
{action_form(status, invitations_url) if invitations_url else ""}
{"<h2>Pipeline</h2>" + pipeline if pipeline else ""}""",
    )
