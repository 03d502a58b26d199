"""The journal as one HTML page, what a patient portal would show: a title, a table of events
(Luxembourg time, the event in words). Every value is escaped (html.escape): names, titles and
test names come from senders' messages and are never markup."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape

from hub.journal.phrases import sentence, when, word
from hub.ops.journal import JournalLine

STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2rem auto; max-width: 60rem;
       color: #1d2733; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
p.intro, p.made { color: #4a5665; margin: .2rem 0; }
table { border-collapse: collapse; width: 100%; margin-top: 1.2rem; }
th, td { text-align: left; vertical-align: top; padding: .45rem .6rem;
         border-bottom: 1px solid #d7dde4; }
th { background: #eef2f6; }
td.when { white-space: nowrap; color: #4a5665; width: 9.5rem; }
tr.denied td.event, tr.failed td.event { color: #8a1c1c; }
"""


def render_html(lines: Iterable[JournalLine], lang: str, made_at: datetime) -> str:
    """The whole page, a complete HTML5 document."""
    rows = []
    for line in lines:
        rows.append(f'<tr class="{escape(line.outcome)}" data-action="{escape(line.action)}">'
                    f'<td class="when">{escape(when(line.at, lang))}</td>'
                    f'<td class="event">{escape(sentence(line, lang))}</td></tr>')
    body = ("\n".join(rows) if rows else
            f'<tr><td colspan="2">{escape(word(lang, "empty"))}</td></tr>')
    return f"""<!DOCTYPE html>
<html lang="{escape(lang)}">
<head>
<meta charset="utf-8">
<title>{escape(word(lang, "title"))}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{escape(word(lang, "title"))}</h1>
<p class="intro">{escape(word(lang, "intro"))}</p>
<p class="made">{escape(word(lang, "generated").format(when=when(made_at, lang)))}</p>
<table id="journal">
<thead><tr><th>{escape(word(lang, "when"))}</th><th>{escape(word(lang, "what_col"))}</th></tr></thead>
<tbody>
{body}
</tbody>
</table>
</body>
</html>
"""
