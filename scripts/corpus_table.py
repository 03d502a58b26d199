"""Writes the README's table of supported message types with the shared corpus's outcomes.

The table is generated, never typed: for every file of the corpus (read in place, see
tests/fixtures/corpus.py) it asks the listener's own check what ACK the file would get and
`hub map` what it makes of each message, then counts by message type. Nothing is sent or stored.

    .venv/bin/python scripts/corpus_table.py            # print the table
    .venv/bin/python scripts/corpus_table.py --write    # replace it in README.md
    .venv/bin/python scripts/corpus_table.py --check    # exit 1 when README.md is out of date
"""
from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hub.mapping.loader import MappingSet  # noqa: E402
from hub.mapping.preview import preview  # noqa: E402
from hub.settings import load_settings  # noqa: E402
from tests.fixtures.corpus import CorpusFile, corpus_files, corpus_root  # noqa: E402
from hub.bootstrap import Hub  # noqa: E402
from tests.fixtures.listener_verdict import listener_verdicts  # noqa: E402

START = "<!-- corpus-table:start (scripts/corpus_table.py --write) -->"
END = "<!-- corpus-table:end -->"
RARE = 3   # unmapped types with fewer files than this share one line


def _type_of(sample: CorpusFile) -> str:
    return "^".join(sample.message_type.split("^")[:2]) or "(none)"


def supported_rows(mappings: MappingSet, versions: list[str]) -> list[str]:
    """One line per mapping file: the types it serves and the entry kinds it makes."""
    seen: dict[str, tuple[list[str], list[str]]] = {}
    for type_, mapping in sorted(mappings.by_type.items()):
        types, kinds = seen.setdefault(mapping.source, ([], sorted({e.kind for e in mapping.entries})))
        types.append(type_)
    lines = ["| message types | mapping file | entries |", "|---|---|---|"]
    for source, (types, kinds) in sorted(seen.items(), key=lambda item: item[1][0]):
        lines.append(f"| {', '.join(types)} | `mappings/{Path(source).name}` | "
                     f"{', '.join(kinds) or 'demographics only'} |")
    lines.append("")
    lines.append(f"HL7 versions accepted (`hl7.supported_versions`): {', '.join(versions)}. "
                 "MFN^M02 updates the professionals registry without a mapping file.")
    return lines


def outcome_rows(files: list[CorpusFile], mappings: MappingSet, settings,
                 served: frozenset[str] | None) -> list[str]:
    """One line per message type in the corpus: files, malformed, listener answers, hub map."""
    by_type: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    answers: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for sample in files:
        type_ = _type_of(sample)
        counts = by_type[type_]
        counts["files"] += 1
        raw = sample.path.read_bytes()
        answers[type_].update(listener_verdicts(raw, settings, served))
        if sample.malformed:
            counts["malformed"] += 1
            continue
        for result in preview(sample.path, raw, mappings,
                              fallback_charset=settings.hl7.fallback_charset,
                              authorities=frozenset(settings.identity.matricule_authorities)):
            if mappings.for_type(result["type"]) is None:
                continue
            counts["supported"] += 1
            counts["mapped"] += result["ok"]
    lines = ["| type in corpus | files | malformed | listener's answers (ACK, ERR-3; per message) | "
             "`hub map`: mapped / supported messages |", "|---|---|---|---|---|"]
    rare = [t for t, c in by_type.items() if c["files"] < RARE and not c["supported"]]
    if len(rare) > 1:  # one line for the long tail of types nobody maps
        other = f"{len(rare)} other types, fewer than {RARE} files each"
        for type_ in rare:
            by_type[other].update(by_type.pop(type_))
            answers[other].update(answers.pop(type_))
    for type_, counts in sorted(by_type.items(), key=lambda item: (-item[1]["files"], item[0])):
        answer = ", ".join(f"{code} {n}" for code, n in sorted(answers[type_].items()))
        mapped = f"{counts['mapped']} / {counts['supported']}" if counts["supported"] else "-"
        lines.append(f"| {type_} | {counts['files']} | {counts['malformed'] or ''} | {answer} | "
                     f"{mapped} |")
    total = sum(c["supported"] for c in by_type.values())
    ok = sum(c["mapped"] for c in by_type.values())
    lines.append("")
    lines.append("Answers are in original-mode terms (a sender asking for enhanced mode gets CA/CE/CR); "
                 "AE 101 is a well-formed message without a matricule in PID-3 (most corpus samples "
                 "are foreign), AR 200/201 a type or event no mapping serves.")
    lines.append("")
    lines.append(f"{len(files)} files; `hub map` maps {ok} of the {total} well-formed messages of "
                 f"supported types ({100 * ok / total:.1f} %)." if total else f"{len(files)} files.")
    return lines


def table() -> str:
    settings = load_settings()
    hub = Hub(settings)
    mappings = hub.mappings
    served = hub.served_types if settings.worker.unmapped_policy == "reject" else None
    files = corpus_files()
    if not files:
        raise SystemExit(f"corpus_table: no corpus at {corpus_root()} (set HUB_CORPUS)")
    lines = [START, "", *supported_rows(mappings, settings.hl7.supported_versions), "",
             f"Outcomes on the shared corpus ({corpus_root().name}/, {len(files)} files, "
             "generated by `scripts/corpus_table.py`):", "",
             *outcome_rows(files, mappings, settings, served), "", END]
    return "\n".join(lines)


def _replace(readme: str, block: str) -> str:
    if START in readme and END in readme:
        head, rest = readme.split(START, 1)
        return head + block + rest.split(END, 1)[1]
    return readme.rstrip("\n") + "\n\n## Message types and the corpus\n\n" + block + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="replace the table in README.md")
    mode.add_argument("--check", action="store_true", help="exit 1 when README.md is stale")
    args = parser.parse_args()
    block = table()
    readme_path = REPO / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    if args.write:
        readme_path.write_text(_replace(readme, block), encoding="utf-8")
    elif args.check:
        if _replace(readme, block) != readme:
            print("README.md's corpus table is out of date: run scripts/corpus_table.py --write",
                  file=sys.stderr)
            return 1
    else:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
