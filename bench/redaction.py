"""PII redaction recall and precision (llmkit.redact, Presidio's pattern recognisers) on generated sentences.

Each sentence plants one or two values of the covered types (email, phone, credit card, IBAN, IP address, URL) in
varied formats, with their exact spans as labels; a third of the sentences also carry look-alikes that are not PII
(versions, dates, prices, order numbers) to measure false positives. Deterministic (--seed).

- recall: a planted value counts as found when a detection of the same type covers >= 80% of it;
- leak-free: the planted value no longer appears in the redacted text (what matters for privacy; any type);
- precision: detections that match a planted value (same type, >= 80%) over all detections.

    python bench/redaction.py --n 300
"""
from __future__ import annotations

import argparse
import random
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from llmkit.redact import LABELS, Redactor, find  # noqa: E402

FIRST = ["ann", "bob", "chloe", "dmitri", "eva", "farid", "grace", "hiro", "ines", "jonas", "kemal", "lena"]
LAST = ["lee", "smith", "garcia", "muller", "nakamura", "okafor", "rossi", "dubois", "kowalski", "silva"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "example.de", "startup.io", "uni-example.edu",
           "example.net", "post.example.fr"]


def email(rng: random.Random) -> str:
    f, last = rng.choice(FIRST), rng.choice(LAST)
    local = rng.choice([f"{f}.{last}", f"{f}{last}", f"{f[0]}{last}", f"{f}_{last}{rng.randint(1, 99)}",
                        f"{f}+news", f"{f.upper()}.{last.capitalize()}"])
    return f"{local}@{rng.choice(DOMAINS)}"


# Real North American area codes: a random 3-digit code is often not a valid number, which the phonenumbers
# library (rightly) rejects; planted numbers should be ones a person could have.
AREA = [212, 213, 202, 206, 303, 305, 312, 404, 415, 512, 617, 702, 718, 816, 919]


def phone(rng: random.Random) -> str:
    a, b, c = rng.choice(AREA), rng.randint(200, 989), rng.randint(1000, 9999)
    return rng.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"+1 {a} {b} {c}", f"{a}.{b}.{c}", f"+1-{a}-{b}-{c}",
                       f"+44 20 7946 {rng.randint(1000, 9999)}", f"+49 30 {rng.randint(100000, 999999)}",
                       f"+33 1 42 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"])


def luhn_complete(digits: str) -> str:
    total = 0
    for i, d in enumerate(reversed(digits + "0")):
        n = int(d)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return digits + str((10 - total % 10) % 10)


def card(rng: random.Random) -> str:
    kind = rng.choice(["visa", "mc", "amex"])
    if kind == "amex":
        n = luhn_complete(rng.choice(["34", "37"]) + "".join(rng.choices(string.digits, k=12)))
        groups = [n[:4], n[4:10], n[10:]]
    else:
        prefix = "4" if kind == "visa" else str(rng.randint(51, 55))
        n = luhn_complete(prefix + "".join(rng.choices(string.digits, k=15 - len(prefix))))
        groups = [n[i:i + 4] for i in range(0, 16, 4)]
    return rng.choice([" ", "-", ""]).join(groups)


IBAN_BBAN = {"DE": 18, "GB": None, "FR": 23, "NL": None, "ES": 20, "IT": None}


def iban(rng: random.Random) -> str:
    country = rng.choice(list(IBAN_BBAN))
    if country == "GB":
        bban = "".join(rng.choices(string.ascii_uppercase, k=4)) + "".join(rng.choices(string.digits, k=14))
    elif country == "NL":
        bban = "".join(rng.choices(string.ascii_uppercase, k=4)) + "".join(rng.choices(string.digits, k=10))
    elif country == "IT":
        bban = rng.choice(string.ascii_uppercase) + "".join(rng.choices(string.digits, k=10)) + \
            "".join(rng.choices(string.digits, k=12))
    else:
        bban = "".join(rng.choices(string.digits, k=IBAN_BBAN[country]))
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(ch, 36)) for ch in moved)) % 97
    code = f"{country}{check:02d}{bban}"
    return " ".join(code[i:i + 4] for i in range(0, len(code), 4)) if rng.random() < 0.6 else code


def ip(rng: random.Random) -> str:
    if rng.random() < 0.75:
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    return ":".join(f"{rng.randint(0, 65535):x}" for _ in range(8))


def url(rng: random.Random) -> str:
    host = rng.choice(["www.example.com", "docs.example.org", "intranet.example.net", "shop.example.de",
                       "example.io"])
    path = rng.choice(["", "/", "/login", "/a/b/report.pdf", "/search?q=tax&page=2", "/u/42#profile"])
    return rng.choice(["https://", "http://", "https://", "www." if host.startswith("www.") else "https://"]) \
        .replace("www.", "") + host + path


MAKERS = {"EMAIL": email, "PHONE": phone, "CREDIT_CARD": card, "IBAN": iban, "IP_ADDRESS": ip, "URL": url}
TEMPLATES = ["Please contact me at {}.", "My details: {} (work).", "Send the invoice to {} before Friday.",
             "Is {} the right one?", "Logged from {} yesterday at noon.", "{} is what she gave me",
             "For refunds use {}, thanks!", "Note to self - {} - do not share.", "Old: {}; new one coming soon.",
             "He wrote \"{}\" on the form."]
DECOYS = ["Python 3.11.2 was released", "the meeting is on 2024-05-17", "it costs $1,299.00", "order #48213907",
          "room 4.12 in building 7", "version 10.0.19045", "call extension 402", "ISBN 978-3-16-148410-0 is listed",
          "pages 12-15", "at 14:30:00 UTC"]


def sentence(rng: random.Random) -> tuple[str, list[tuple[int, int, str]]]:
    text, spans = "", []
    for k in range(rng.choice([1, 1, 2])):
        label = rng.choice(list(MAKERS))
        value = MAKERS[label](rng)
        template = rng.choice(TEMPLATES)
        before = (text + " " if text else "") + template.split("{}")[0]
        spans.append((len(before), len(before) + len(value), label))
        text = before + value + template.split("{}")[1]
    if rng.random() < 1 / 3:
        text += " Also, " + rng.choice(DECOYS) + "."
    return text, spans


def covers(pred: tuple[int, int], gold: tuple[int, int]) -> bool:
    overlap = min(pred[1], gold[1]) - max(pred[0], gold[0])
    return overlap >= 0.8 * (gold[1] - gold[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="sentences (default 300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show-misses", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    data = [sentence(rng) for _ in range(args.n)]
    t0 = time.perf_counter()
    find("warm up a@example.com")
    load_s = time.perf_counter() - t0
    per = {lab: [0, 0] for lab in MAKERS}  # found, planted
    leaks = tp = fp = 0
    t0 = time.perf_counter()
    for text, gold in data:
        preds = [(r.start, r.end, LABELS[r.entity_type]) for r in find(text)]
        redacted = Redactor().redact(text)
        for g in gold:
            hit = any(p[2] == g[2] and covers(p[:2], g[:2]) for p in preds)
            per[g[2]][0] += hit
            per[g[2]][1] += 1
            leaks += text[g[0]:g[1]] in redacted
            if not hit and args.show_misses:
                print(f"MISS {g[2]}: {text[g[0]:g[1]]!r} in {text!r} -> {preds}")
        for p in preds:
            if any(p[2] == g[2] and covers(p[:2], g[:2]) for g in gold):
                tp += 1
            else:
                fp += 1
                if args.show_misses:
                    print(f"FALSE {p[2]}: {text[p[0]:p[1]]!r} in {text!r}")
    run_s = time.perf_counter() - t0
    planted = sum(v[1] for v in per.values())
    found = sum(v[0] for v in per.values())
    print(f"sentences {len(data)}, planted values {planted}, seed {args.seed}")
    for lab, (f, n) in per.items():
        print(f"  {lab:<12} recall {f / n:.3f} ({f}/{n})")
    print(f"recall {found / planted:.3f}  precision {tp / max(1, tp + fp):.3f} ({fp} false detections)  "
          f"leak-free {1 - leaks / planted:.3f}  ({run_s / len(data) * 1000:.1f} ms/sentence, load {load_s:.1f} s)")


if __name__ == "__main__":
    main()
