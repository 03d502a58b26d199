"""The words of the patient's journal, in French (the DSP's language, the default), German and
English: one phrase per audit action, the reasons consent and delivery give, the kinds of
entries, the people. hub.ops.journal builds the lines; the renderers (text, HTML, PDF) only lay
out what `sentence` and `when` return.

Adding an action's phrase is one line in each language's ACTIONS. An action without one (a
newer hub's, or one not worded yet) still reads, with the generic phrase "*" naming the action.
A key "action/outcome" (e.g. "read/denied") words that outcome of the action; "*/denied" and
"*/failed" the outcomes of unknown actions.

Placeholders a phrase may use: {who} acted, {has} (the verb's person: "avez" for the patient
themselves, else "a"), {what} the entries touched (or the dossier), {what_sfx} the same in
brackets or nothing, {why} the reason of an allowed access in brackets, {reason} the reason in
words, {whom} the professionals the event names (whom a grant is for), {sender} and {by} a
filing's sending facility and professional, {level} and {until} a grant's, {confidentiality}
a level chosen for an entry, {action} the action as the log stores it.
"""
from __future__ import annotations

import string
from collections.abc import Iterable
from datetime import date, datetime

from hub.ops.journal import JournalLine, Person, Thing, local_time

LANGUAGES = ("fr", "de", "en")
DEFAULT_LANGUAGE = "fr"

ACTIONS: dict[str, dict[str, str]] = {
    "fr": {
        "entries.filed": "{sender} a déposé {what}{by}",
        "read": "{who} {has} consulté {what}{why}",
        "read/denied": "{who} n'a pas pu consulter {what} — refusé : {reason}",
        "deliver": "{who} {has} reçu {what}{why}",
        "deliver/failed": "L'envoi à {who} a échoué{what_sfx} : {reason}",
        "deny": "{who} n'a pas reçu {what} — refusé : {reason}",
        "dossier.read": "{who} {has} consulté l'ensemble de votre dossier{why}",
        "identity.read": "{who} {has} consulté votre matricule{why}",
        "consent.grant": "{who} {has} autorisé {whom} à consulter votre dossier ({level}){until}",
        "consent.revoke": "{who} {has} retiré l'accès de {whom}",
        "consent.expired": "L'autorisation de {whom} a pris fin",
        "referent.declare": "{whom} est déclaré(e) comme votre médecin référent",
        "referent.end": "{whom} n'est plus votre médecin référent",
        "referent.block": "{who} {has} bloqué l'accès de votre médecin référent",
        "referent.unblock": "{who} {has} rétabli l'accès de votre médecin référent",
        "dossier.close": "{who} {has} fermé votre dossier",
        "dossier.reopen": "{who} {has} rouvert votre dossier",
        "dossier.erased": "Le contenu de votre dossier a été effacé à la fin de sa conservation",
        "entry.hide": "{who} {has} masqué {what}",
        "entry.unhide": "{who} {has} rendu de nouveau visible {what}",
        "entry.hide_from": "{who} {has} masqué {what} pour {whom}",
        "entry.unhide_from": "{who} {has} rendu de nouveau visible {what} pour {whom}",
        "representative.add": "{who} {has} enregistré un représentant qui agit pour vous "
                              "(parent, tuteur ou assistant DSP)",
        "representative.end": "{who} {has} mis fin aux droits d'un représentant",
        "representative.majority": "Vous êtes devenu(e) majeur(e) : votre parent n'agit plus "
                                   "pour vous",
        "representative.list": "{who} {has} consulté la liste de vos représentants",
        "entry.confidentiality": "{who} {has} placé {what} au niveau « {confidentiality} »",
        "consent.default_level": "{who} {has} choisi le niveau « {confidentiality} » pour les "
                                 "nouvelles entrées",
        "entries.remapped": "{who} {has} mis à jour des entrées de votre dossier (nouvelle "
                            "version du format des messages)",
        "message.discarded": "Un message reçu pendant la fermeture de votre dossier n'a pas été "
                             "conservé",
        "patient.merged": "Votre dossier a été fusionné avec un autre dossier à votre nom",
        "message.replayed": "{who} {has} traité de nouveau un message de votre dossier",
        "message.retried": "{who} {has} vérifié de nouveau un message refusé",
        "message.raw_read": "{who} {has} consulté un message en attente",
        "keys.rotate": "Les clés de chiffrement de votre dossier ont été renouvelées",
        "retention.purge": "Des copies de messages ont été supprimées à la fin de leur "
                           "conservation",
        "*": "{who} : opération « {action} » sur votre dossier{what_sfx}",
        "*/denied": "{who} : opération « {action} » refusée{what_sfx} : {reason}",
        "*/failed": "{who} : opération « {action} » en échec{what_sfx} : {reason}",
    },
    "de": {
        "entries.filed": "{sender} hat {what} hinterlegt{by}",
        "read": "{who} {has} {what} eingesehen{why}",
        "read/denied": "{who} durfte {what} nicht einsehen – abgelehnt: {reason}",
        "deliver": "{who} {has} {what} erhalten{why}",
        "deliver/failed": "Die Übermittlung an {who} ist fehlgeschlagen{what_sfx}: {reason}",
        "deny": "{who} {has} {what} nicht erhalten – abgelehnt: {reason}",
        "dossier.read": "{who} {has} Ihr gesamtes Dossier eingesehen{why}",
        "identity.read": "{who} {has} Ihre Matrikelnummer eingesehen{why}",
        "consent.grant": "{who} {has} {whom} den Zugriff auf Ihr Dossier erlaubt "
                         "({level}){until}",
        "consent.revoke": "{who} {has} {whom} den Zugriff entzogen",
        "consent.expired": "Die Zugriffserlaubnis für {whom} ist abgelaufen",
        "referent.declare": "{whom} ist als Ihr Referenzarzt erklärt",
        "referent.end": "{whom} ist nicht mehr Ihr Referenzarzt",
        "referent.block": "{who} {has} den Zugriff Ihres Referenzarztes gesperrt",
        "referent.unblock": "{who} {has} den Zugriff Ihres Referenzarztes wieder freigegeben",
        "dossier.close": "{who} {has} Ihr Dossier geschlossen",
        "dossier.reopen": "{who} {has} Ihr Dossier wieder geöffnet",
        "dossier.erased": "Der Inhalt Ihres Dossiers wurde nach Ablauf der Aufbewahrung gelöscht",
        "entry.hide": "{who} {has} {what} verborgen",
        "entry.unhide": "{who} {has} {what} wieder sichtbar gemacht",
        "entry.hide_from": "{who} {has} {what} vor {whom} verborgen",
        "entry.unhide_from": "{who} {has} {what} für {whom} wieder sichtbar gemacht",
        "representative.add": "{who} {has} einen Vertreter erfasst, der für Sie handelt "
                              "(Elternteil, Vormund oder DSP-Assistent)",
        "representative.end": "{who} {has} die Rechte eines Vertreters beendet",
        "representative.majority": "Sie sind volljährig geworden: Ihr Elternteil handelt nicht "
                                   "mehr für Sie",
        "representative.list": "{who} {has} die Liste Ihrer Vertreter eingesehen",
        "entry.confidentiality": "{who} {has} für {what} die Stufe „{confidentiality}“ gewählt",
        "consent.default_level": "{who} {has} für neue Einträge die Stufe „{confidentiality}“ "
                                 "gewählt",
        "entries.remapped": "{who} {has} Einträge Ihres Dossiers aktualisiert (neue Fassung des "
                            "Nachrichtenformats)",
        "message.discarded": "Eine Nachricht, die bei geschlossenem Dossier einging, wurde "
                             "nicht aufbewahrt",
        "patient.merged": "Ihr Dossier wurde mit einem anderen Dossier auf Ihren Namen "
                          "zusammengeführt",
        "message.replayed": "{who} {has} eine Nachricht Ihres Dossiers erneut verarbeitet",
        "message.retried": "{who} {has} eine abgelehnte Nachricht erneut geprüft",
        "message.raw_read": "{who} {has} eine zurückgehaltene Nachricht eingesehen",
        "keys.rotate": "Die Schlüssel zur Verschlüsselung Ihres Dossiers wurden erneuert",
        "retention.purge": "Nachrichtenkopien wurden nach Ablauf der Aufbewahrung gelöscht",
        "*": "{who}: Vorgang „{action}“ in Ihrem Dossier{what_sfx}",
        "*/denied": "{who}: Vorgang „{action}“ abgelehnt{what_sfx}: {reason}",
        "*/failed": "{who}: Vorgang „{action}“ fehlgeschlagen{what_sfx}: {reason}",
    },
    "en": {
        "entries.filed": "{sender} filed {what}{by}",
        "read": "{who} read {what}{why}",
        "read/denied": "{who} could not read {what} — refused: {reason}",
        "deliver": "{who} received {what}{why}",
        "deliver/failed": "Sending to {who} failed{what_sfx}: {reason}",
        "deny": "{who} did not receive {what} — refused: {reason}",
        "dossier.read": "{who} read your whole record{why}",
        "identity.read": "{who} read your identification number{why}",
        "consent.grant": "{who} allowed {whom} to read your record ({level}){until}",
        "consent.revoke": "{who} withdrew the access of {whom}",
        "consent.expired": "The access of {whom} ended",
        "referent.declare": "{whom} is declared as your référent doctor",
        "referent.end": "{whom} is no longer your référent doctor",
        "referent.block": "{who} blocked your référent doctor's access",
        "referent.unblock": "{who} restored your référent doctor's access",
        "dossier.close": "{who} closed your record",
        "dossier.reopen": "{who} reopened your record",
        "dossier.erased": "The content of your record was erased at the end of its retention",
        "entry.hide": "{who} hid {what}",
        "entry.unhide": "{who} made {what} visible again",
        "entry.hide_from": "{who} hid {what} from {whom}",
        "entry.unhide_from": "{who} made {what} visible again to {whom}",
        "representative.add": "{who} recorded a representative who acts for you (a parent, a "
                              "guardian or your DSP assistant)",
        "representative.end": "{who} ended a representative's rights",
        "representative.majority": "You came of age: your parent no longer acts for you",
        "representative.list": "{who} looked up who represents you",
        "entry.confidentiality": "{who} set {what} to the level \"{confidentiality}\"",
        "consent.default_level": "{who} chose the level \"{confidentiality}\" for new entries",
        "entries.remapped": "{who} updated entries of your record (new version of the message "
                            "format)",
        "message.discarded": "A message received while your record was closed was not kept",
        "patient.merged": "Your record was merged with another record in your name",
        "message.replayed": "{who} processed a message of your record again",
        "message.retried": "{who} checked a refused message again",
        "message.raw_read": "{who} read a message on hold",
        "keys.rotate": "The encryption keys of your record were renewed",
        "retention.purge": "Copies of messages were deleted at the end of their retention",
        "*": "{who}: operation \"{action}\" on your record{what_sfx}",
        "*/denied": "{who}: operation \"{action}\" refused{what_sfx}: {reason}",
        "*/failed": "{who}: operation \"{action}\" failed{what_sfx}: {reason}",
    },
}

# The reasons of hub.domain.consent.Reason and of routing and delivery, in plain words.
REASONS: dict[str, dict[str, str]] = {
    "fr": {
        "grant in force": "vous l'avez autorisé",
        "référent declaration in force": "votre médecin référent",
        "dossier closed": "votre dossier est fermé",
        "recipient not active": "ce professionnel n'est pas actif au registre",
        "recipient not registered": "ce professionnel n'est pas inscrit au registre",
        "entry hidden": "vous avez masqué cette entrée",
        "entry secret": "cette entrée est secrète",
        "restricted needs extended grant": "une entrée à accès restreint demande une "
                                           "autorisation étendue, qu'il n'a pas",
        "référent blocked by patient": "vous avez bloqué l'accès de votre médecin référent",
        "grant revoked": "vous avez retiré son autorisation",
        "grant expired": "son autorisation a pris fin",
        "no grant in force": "il n'a pas d'autorisation de votre part",
        "operator full view": "consultation au guichet du DSP",
        "recipient id is not a CNS code": "le destinataire n'a pas de code CNS valable",
        "cannot re-address": "le message n'a pas pu lui être adressé",
        "refused by recipient": "refusé par son logiciel",
        "gave up after": "son logiciel n'a pas pu être joint",
        "AA": "réception confirmée par son logiciel",
        "CA": "réception confirmée par son logiciel",
    },
    "de": {
        "grant in force": "Sie haben es erlaubt",
        "référent declaration in force": "Ihr Referenzarzt",
        "dossier closed": "Ihr Dossier ist geschlossen",
        "recipient not active": "diese Fachperson ist im Register nicht aktiv",
        "recipient not registered": "diese Fachperson ist nicht im Register eingetragen",
        "entry hidden": "Sie haben diesen Eintrag verborgen",
        "entry secret": "dieser Eintrag ist geheim",
        "restricted needs extended grant": "ein Eintrag mit eingeschränktem Zugriff verlangt "
                                           "eine erweiterte Erlaubnis, die fehlt",
        "référent blocked by patient": "Sie haben den Zugriff Ihres Referenzarztes gesperrt",
        "grant revoked": "Sie haben die Erlaubnis entzogen",
        "grant expired": "die Erlaubnis ist abgelaufen",
        "no grant in force": "keine Erlaubnis von Ihnen",
        "operator full view": "Einsicht am Schalter des DSP",
        "recipient id is not a CNS code": "der Empfänger hat keinen gültigen CNS-Code",
        "cannot re-address": "die Nachricht konnte nicht adressiert werden",
        "refused by recipient": "von seiner Software abgelehnt",
        "gave up after": "seine Software war nicht erreichbar",
        "AA": "Empfang von seiner Software bestätigt",
        "CA": "Empfang von seiner Software bestätigt",
    },
    "en": {
        "grant in force": "you allowed it",
        "référent declaration in force": "your référent doctor",
        "dossier closed": "your record is closed",
        "recipient not active": "this professional is not active in the registry",
        "recipient not registered": "this professional is not in the registry",
        "entry hidden": "you hid this entry",
        "entry secret": "this entry is secret",
        "restricted needs extended grant": "a restricted entry needs an extended permission, "
                                           "which they do not have",
        "référent blocked by patient": "you blocked your référent doctor's access",
        "grant revoked": "you withdrew their permission",
        "grant expired": "their permission ended",
        "no grant in force": "they have no permission from you",
        "operator full view": "a look at the DSP desk",
        "recipient id is not a CNS code": "the recipient has no valid CNS code",
        "cannot re-address": "the message could not be addressed to them",
        "refused by recipient": "refused by their software",
        "gave up after": "their software could not be reached",
        "AA": "receipt confirmed by their software",
        "CA": "receipt confirmed by their software",
    },
}

KINDS: dict[str, dict[str, tuple[str, str]]] = {  # (one, several: "{n}" is the count)
    "fr": {"lab_result": ("le résultat de laboratoire", "{n} résultats de laboratoire"),
           "document": ("le document", "{n} documents"),
           "encounter": ("le séjour ou la consultation", "{n} séjours ou consultations"),
           "prestation": ("la prestation CNS", "{n} prestations CNS"),
           "*": ("l'entrée", "{n} entrées"),
           "erased": ("une entrée depuis effacée", "{n} entrées depuis effacées")},
    "de": {"lab_result": ("den Laborbefund", "{n} Laborbefunde"),
           "document": ("das Dokument", "{n} Dokumente"),
           "encounter": ("den Aufenthalt oder Besuch", "{n} Aufenthalte oder Besuche"),
           "prestation": ("die CNS-Leistung", "{n} CNS-Leistungen"),
           "*": ("den Eintrag", "{n} Einträge"),
           "erased": ("einen inzwischen gelöschten Eintrag", "{n} inzwischen gelöschte Einträge")},
    "en": {"lab_result": ("the lab result", "{n} lab results"),
           "document": ("the document", "{n} documents"),
           "encounter": ("the hospital stay or visit", "{n} hospital stays or visits"),
           "prestation": ("the CNS service", "{n} CNS services"),
           "*": ("the entry", "{n} entries"),
           "erased": ("an entry since erased", "{n} entries since erased")},
}

WORDS: dict[str, dict[str, str]] = {
    "fr": {"dossier": "votre dossier", "of_date": "du {date}", "quote": "«\u00a0{}\u00a0»", "and": " et ",
           "patient": "vous", "has": "a", "has_patient": "avez", "hub": "le DSP",
           "cns-feed": "la CNS", "representative": "votre représentant(e)", "operator": "un agent du DSP ({operator})",
           "unknown_actor": "« {actor} »",
           "professional": "{name} ({specialty}, code CNS {code})",
           "professional_nospec": "{name} (code CNS {code})",
           "professional_unknown": "le professionnel au code CNS {code} (inconnu du registre)",
           "nobody": "un professionnel", "recorded_by": " (enregistré par {operator})",
           "sender": "l'établissement {facility}", "sender_app": "l'établissement {facility} "
           "({application})", "no_sender": "un établissement",
           "ordering": ", à la demande de {who}", "author": ", rédigé par {who}",
           "why": " ({reason})", "normal": "accès normal",
           "extended": "accès étendu, entrées restreintes comprises",
           "until": " jusqu'au {date} inclus", "title": "Journal de votre dossier de soins partagé",
           "intro": "Qui a déposé, reçu ou consulté quoi dans votre dossier, quand et pourquoi. "
                    "Heures de Luxembourg.",
           "when": "Quand", "what_col": "Événement", "empty": "Aucun événement.",
           "generated": "Établi le {when}", "conf_normal": "normal",
           "conf_restricted": "restreint", "conf_secret": "secret"},
    "de": {"dossier": "Ihr Dossier", "of_date": "vom {date}", "quote": "„{}“", "and": " und ",
           "patient": "Sie", "has": "hat", "has_patient": "haben", "hub": "der DSP",
           "cns-feed": "die CNS", "representative": "Ihr Vertreter", "operator": "ein Mitarbeiter des DSP ({operator})",
           "unknown_actor": "„{actor}“",
           "professional": "{name} ({specialty}, CNS-Code {code})",
           "professional_nospec": "{name} (CNS-Code {code})",
           "professional_unknown": "die Fachperson mit CNS-Code {code} (nicht im Register)",
           "nobody": "eine Fachperson", "recorded_by": " (erfasst von {operator})",
           "sender": "die Einrichtung {facility}", "sender_app": "die Einrichtung {facility} "
           "({application})", "no_sender": "eine Einrichtung",
           "ordering": ", angefordert von {who}", "author": ", verfasst von {who}",
           "why": " ({reason})", "normal": "normaler Zugriff",
           "extended": "erweiterter Zugriff, auch auf eingeschränkte Einträge",
           "until": " bis einschließlich {date}",
           "title": "Protokoll Ihres gemeinsamen Gesundheitsdossiers",
           "intro": "Wer was in Ihrem Dossier hinterlegt, erhalten oder eingesehen hat, wann und "
                    "warum. Luxemburger Zeit.",
           "when": "Wann", "what_col": "Ereignis", "empty": "Keine Ereignisse.",
           "generated": "Erstellt am {when}", "conf_normal": "normal",
           "conf_restricted": "eingeschränkt", "conf_secret": "geheim"},
    "en": {"dossier": "your record", "of_date": "of {date}", "quote": "\"{}\"", "and": " and ",
           "patient": "you", "has": "has", "has_patient": "have", "hub": "the DSP",
           "cns-feed": "the CNS", "representative": "your representative", "operator": "a DSP staff member ({operator})",
           "unknown_actor": "\"{actor}\"",
           "professional": "{name} ({specialty}, CNS code {code})",
           "professional_nospec": "{name} (CNS code {code})",
           "professional_unknown": "the professional with CNS code {code} (not in the registry)",
           "nobody": "a professional", "recorded_by": " (recorded by {operator})",
           "sender": "facility {facility}", "sender_app": "facility {facility} ({application})",
           "no_sender": "a facility",
           "ordering": ", ordered by {who}", "author": ", written by {who}",
           "why": " ({reason})", "normal": "normal access",
           "extended": "extended access, restricted entries included",
           "until": " until {date} inclusive", "title": "Your shared care record's journal",
           "intro": "Who filed, received or read what in your record, when and why. "
                    "Luxembourg time.",
           "when": "When", "what_col": "Event", "empty": "No events.",
           "generated": "Made on {when}", "conf_normal": "normal",
           "conf_restricted": "restricted", "conf_secret": "secret"},
}

# Specialties as the registry codes them, in words; any other is shown as the registry has it.
SPECIALTIES: dict[str, dict[str, str]] = {
    "GP": {"fr": "médecine générale", "de": "Allgemeinmedizin", "en": "general practice"},
    "general practice": {"fr": "médecine générale", "de": "Allgemeinmedizin",
                         "en": "general practice"},
    "cardiology": {"fr": "cardiologie", "de": "Kardiologie", "en": "cardiology"},
    "laboratory": {"fr": "biologie médicale", "de": "Labormedizin", "en": "laboratory medicine"},
}

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MAX_TITLES = 6


def language(lang: str | None) -> str:
    """`lang` if the journal speaks it, else ValueError; None is the default (French)."""
    if lang is None:
        return DEFAULT_LANGUAGE
    if lang not in LANGUAGES:
        raise ValueError(f"journal language must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    return lang


def word(lang: str, key: str) -> str:
    """One of the catalogue's words (a page's title, a column's name)."""
    return WORDS[lang][key]


def sentence(line: JournalLine, lang: str = DEFAULT_LANGUAGE) -> str:
    """The line's event in plain words, a capital first and no final stop."""
    phrases = ACTIONS[lang]
    template = (phrases.get(f"{line.action}/{line.outcome}") or
                (phrases.get(line.action) if line.outcome == "ok" or line.action in
                 _OUTCOME_FREE else None) or
                phrases.get(f"*/{line.outcome}") or phrases["*"])
    values = _values(line, lang)
    text = string.Formatter().vformat(template, (), values)
    if line.operator and line.who.kind != "operator":
        text += WORDS[lang]["recorded_by"].format(operator=line.operator)
    return text[:1].upper() + text[1:]


# Actions whose phrase already says how they ended (a denial is one outcome of "deny").
_OUTCOME_FREE = frozenset({"deny"})


def when(at: datetime, lang: str = DEFAULT_LANGUAGE) -> str:
    """An instant as people in Luxembourg read it: local date and time, 24 hours."""
    local = local_time(at)
    return f"{day(local.date(), lang)} {local:%H:%M}"


def day(value: date, lang: str = DEFAULT_LANGUAGE) -> str:
    """A date: 12/11/2026 (fr), 12.11.2026 (de), 12 Nov 2026 (en)."""
    if lang == "de":
        return f"{value:%d.%m.%Y}"
    if lang == "en":
        return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"
    return f"{value:%d/%m/%Y}"


def who(person: Person, lang: str, operator: str | None = None) -> str:
    """A person in words: a professional's name and specialty beside the CNS code."""
    words = WORDS[lang]
    if person.kind == "professional":
        if person.name is None:
            return words["professional_unknown"].format(code=person.cns_code)
        if person.specialty:
            return words["professional"].format(name=person.name, code=person.cns_code,
                                                specialty=specialty(person.specialty, lang))
        return words["professional_nospec"].format(name=person.name, code=person.cns_code)
    if person.kind == "operator":
        return words["operator"].format(operator=operator or "?")
    if person.kind in ("patient", "hub", "cns-feed", "representative"):
        return words[person.kind]
    return words["unknown_actor"].format(actor=person.kind)


def specialty(value: str, lang: str) -> str:
    """The registry's specialty in words when the catalogue knows it."""
    known = SPECIALTIES.get(value) or SPECIALTIES.get(value.lower())
    return known[lang] if known else value


def reason(text: str, lang: str) -> str:
    """A stored reason in words: a known one (or one starting like a known one), else as
    stored (the hub's own words, never patient data)."""
    reasons = REASONS[lang]
    if text in reasons:
        return reasons[text]
    for known, words in reasons.items():
        if text.startswith(known):
            return words
    return text


def what(things: Iterable[Thing], lang: str) -> str:
    """The entries touched, grouped by kind in order: "3 résultats de laboratoire du
    25/11/2026 (A, B, C)", "le document « Lettre de sortie » du 02/11/2026"."""
    things = list(things)
    words = WORDS[lang]
    if not things:
        return words["dossier"]
    groups: dict[str, list[Thing]] = {}
    for item in things:
        groups.setdefault("erased" if item.erased else item.kind or "*", []).append(item)
    if "erased" in groups:  # what is still there first, then what no longer is
        groups["erased"] = groups.pop("erased")
    parts = [_group(kind, items, lang) for kind, items in groups.items()]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + words["and"] + parts[-1]


def _group(kind: str, items: list[Thing], lang: str) -> str:
    kinds, words = KINDS[lang], WORDS[lang]
    one, several = kinds.get(kind) or kinds["*"]
    if kind == "erased":
        return one if len(items) == 1 else several.format(n=len(items))
    dates = {item.date for item in items}
    common = dates.pop() if len(dates) == 1 else None
    text = one if len(items) == 1 else several.format(n=len(items))
    titles = [item for item in items if item.title]
    if len(items) == 1 and titles:
        text += " " + words["quote"].format(titles[0].title)
    if common is not None:
        text += " " + words["of_date"].format(date=day(common, lang))
    if len(items) > 1 and titles:
        shown = [t.title + ("" if common is not None or t.date is None
                            else " " + words["of_date"].format(date=day(t.date, lang)))
                 for t in titles[:MAX_TITLES]]
        text += " (" + ", ".join(str(s) for s in shown) + (", …" if len(titles) > MAX_TITLES
                                                            else "") + ")"
    return text


def _values(line: JournalLine, lang: str) -> dict[str, str]:
    words = WORDS[lang]
    said_why = reason(line.reason, lang)
    touched = what(line.things, lang)
    whom = words["and"].join(who(p, lang) for p in line.named) or words["nobody"]
    level = words.get(line.level or "", "")
    # A level: the reason itself (entry.confidentiality) or its last word
    # (consent.default_level: "new entries restricted").
    conf = words.get(f"conf_{line.reason}") or words.get(
        f"conf_{line.reason.rsplit(' ', 1)[-1]}", line.reason)
    sender = _sender(line.sender, lang)
    by = ""
    if line.professional is not None:
        by = words.get(line.role or "", words["ordering"]).format(
            who=who(line.professional, lang))
    return {
        "who": who(line.who, lang, line.operator),
        "has": words["has_patient"] if line.who.kind == "patient" else words["has"],
        "what": touched,
        "what_sfx": f" ({touched})" if line.things else "",
        "why": words["why"].format(reason=said_why) if line.reason else "",
        "reason": said_why or "—",
        "whom": whom, "sender": sender, "by": by, "level": level,
        "until": words["until"].format(date=day(line.until, lang)) if line.until else "",
        "confidentiality": conf, "action": line.action,
    }


def _sender(sender: str | None, lang: str) -> str:
    words = WORDS[lang]
    if not sender:
        return words["no_sender"]
    application, _, facility = sender.partition("^")
    if not facility:
        return words["sender"].format(facility=application)
    if not application:
        return words["sender"].format(facility=facility)
    return words["sender_app"].format(facility=facility, application=application)
