"""PII redaction before text leaves the machine, and restoration in the answer.

Microsoft Presidio's pattern recognisers (regex + checksums: Luhn for cards, mod-97 for IBANs, the
``phonenumbers`` library for phones) run offline and need no spaCy model, so only those run here: emails, phone
numbers, credit cards, IBANs, IP addresses, URLs. Person and place names need an NER model, which no trustworthy
registry package ships here: **names are not redacted** (docs/remote.md says so).

One ``Redactor`` is one conversation: the same value always gets the same placeholder (``<EMAIL_1>``), numbered
by first appearance, so a conversation re-sent turn after turn keeps its placeholders; the mapping lives in this
object only (never on disk, never in the audit log).

>>> r = Redactor()
>>> r.redact("Write to ann@example.com, not bob@example.org or ann@example.com")
'Write to <EMAIL_1>, not <EMAIL_2> or <EMAIL_1>'
>>> r.restore("Sent to <EMAIL_2>.")
'Sent to bob@example.org.'
"""
from __future__ import annotations

import re
import sys
from functools import lru_cache
from typing import Any

from .errors import EngineUnavailableError

# Presidio entity -> our placeholder label
LABELS = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN",
          "IP_ADDRESS": "IP_ADDRESS", "URL": "URL"}
PLACEHOLDER = re.compile(r"<(?:" + "|".join(sorted(set(LABELS.values()))) + r")_\d+>")
_PARTIAL = re.compile(r"<[A-Z_]*\d*$")  # what a placeholder cut by a stream's piece boundary can end with
_MAX_PLACEHOLDER = 24
MISSING = "PII redaction needs Presidio: `pip install 'llmkit[remote]'` (or pass --no-redact)."


@lru_cache(maxsize=1)
def _engines() -> tuple[list[Any], Any]:
    # presidio_analyzer imports spaCy's transformer/torch glue at package import (20+ s on a loaded machine), all
    # guarded by `except ImportError` and unused by pattern recognisers: hide them while it imports, unless the
    # process has already loaded them.
    hidden = [m for m in ("transformers", "torch") if m not in sys.modules]
    sys.modules.update({m: None for m in hidden})  # type: ignore[misc]  (None: "import fails")
    try:
        from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer,
                                                              IbanRecognizer, IpRecognizer, PhoneRecognizer,
                                                              UrlRecognizer)
        from presidio_anonymizer import AnonymizerEngine
    except ImportError:
        raise EngineUnavailableError(MISSING) from None
    finally:
        for m in hidden:
            sys.modules.pop(m, None)
    import tldextract

    # Presidio's email check calls tldextract.extract(), which downloads the public suffix list on first use: a
    # network call, from the very step that keeps text local. The snapshot tldextract ships is used instead.
    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return offline(pattern_text).fqdn != ""

    recognizers = [OfflineEmailRecognizer(), PhoneRecognizer(), CreditCardRecognizer(), IbanRecognizer(), IpRecognizer(),
                   UrlRecognizer()]
    return recognizers, AnonymizerEngine()


def find(text: str) -> list[Any]:
    """Presidio's findings, overlaps resolved: the longer span wins (an email's domain is not also a URL)."""
    recognizers, _ = _engines()
    found = [r for rec in recognizers for r in rec.analyze(text, rec.supported_entities, None) if r.score > 0]
    found.sort(key=lambda r: (-(r.end - r.start), -r.score, r.start))
    kept: list[Any] = []
    for r in found:
        if all(r.end <= k.start or r.start >= k.end for k in kept):
            kept.append(r)
    return sorted(kept, key=lambda r: r.start)


class Redactor:
    def __init__(self) -> None:
        self._placeholder: dict[str, str] = {}  # value -> placeholder
        self._value: dict[str, str] = {}  # placeholder -> value
        self.counts: dict[str, int] = {}  # label -> how many distinct values (numbers only go in the audit log)

    def _name(self, label: str, value: str) -> str:
        if value not in self._placeholder:
            self.counts[label] = self.counts.get(label, 0) + 1
            name = f"<{label}_{self.counts[label]}>"
            self._placeholder[value], self._value[name] = name, value
        return self._placeholder[value]

    def redact(self, text: str) -> str:
        results = find(text)
        if not results:
            return text
        from presidio_anonymizer.entities import OperatorConfig

        _, anonymizer = _engines()
        # Presidio's anonymizer replaces right to left; number by first appearance (left to right) first.
        for r in results:
            self._name(LABELS[r.entity_type], text[r.start:r.end])
        operators = {e: OperatorConfig("custom", {"lambda": lambda v, lab=lab: self._name(lab, v)})
                     for e, lab in LABELS.items()}
        return anonymizer.anonymize(text=text, analyzer_results=results, operators=operators).text

    def restore(self, text: str) -> str:
        if not self._value:
            return text
        return PLACEHOLDER.sub(lambda m: self._value.get(m.group(0), m.group(0)), text)

    @property
    def changed(self) -> bool:
        return bool(self._value)

    def restorer(self) -> "StreamRestorer":
        return StreamRestorer(self)


class StreamRestorer:
    """Restore placeholders in a stream of pieces: a piece ending in ``<EMA`` is held back until the rest of the
    placeholder arrives (or cannot), so a placeholder split across pieces is still restored."""

    def __init__(self, redactor: Redactor):
        self._r, self._held = redactor, ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        cut = text.rfind("<")
        if cut >= 0 and len(text) - cut < _MAX_PLACEHOLDER and _PARTIAL.fullmatch(text[cut:]):
            self._held = text[cut:]
            text = text[:cut]
        else:
            self._held = ""
        return self._r.restore(text)

    def finish(self) -> str:
        text, self._held = self._held, ""
        return self._r.restore(text)
