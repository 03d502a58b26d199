"""The journal as plain text: a title, one line per event (Luxembourg time, then the event in
words), long events wrapped under their own start. What a terminal or a plain e-mail shows."""
from __future__ import annotations

import textwrap
from collections.abc import Iterable
from datetime import datetime

from hub.journal.phrases import sentence, when, word
from hub.ops.journal import JournalLine

WIDTH = 100


def render_text(lines: Iterable[JournalLine], lang: str, made_at: datetime) -> str:
    """The whole journal, ending with a line break."""
    out = [word(lang, "title"), word(lang, "intro"),
           word(lang, "generated").format(when=when(made_at, lang)), ""]
    lines = list(lines)
    if not lines:
        out.append(word(lang, "empty"))
    for line in lines:
        stamp = when(line.at, lang)
        out.append(textwrap.fill(sentence(line, lang), width=WIDTH,
                                 initial_indent=f"{stamp}  ",
                                 subsequent_indent=" " * (len(stamp) + 2)))
    return "\n".join(out) + "\n"
