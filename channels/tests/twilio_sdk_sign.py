#!/usr/bin/env python3
"""Signs webhook requests with Twilio's own Python SDK (twilio.request_validator), so the Rust
validator can be checked against Twilio's implementation rather than against itself.

Prints one JSON object: {"token": ..., "cases": [...]}. Each case has the URL the SDK signed,
the URL our validator is given (they differ in the default port for the port cases), the form
params as [name, value] pairs (repeats allowed) or a raw JSON body, and the SDK's signature.
Exits 3 with an instruction when the `twilio` package is missing.
"""
import json
import sys

try:
    from twilio.request_validator import RequestValidator
except ImportError:
    sys.stderr.write("the `twilio` Python package is missing: run `python3 -m pip install twilio`\n")
    sys.exit(3)


class MultiParams:
    """A Django-QueryDict-like mapping, so the SDK signs every value of a repeated name."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __iter__(self):
        return iter(dict.fromkeys(k for k, _ in self.pairs))

    def __bool__(self):
        return bool(self.pairs)

    def getlist(self, name):
        return [v for k, v in self.pairs if k == name]


TOKEN = "f3c1a9e07b2d4c58a6e1d0b9c7f24e13"
validator = RequestValidator(TOKEN)

SMS = [
    ["MessageSid", "SM0123456789abcdef0123456789abcdef"],
    ["AccountSid", "AC0123456789abcdef0123456789abcdef"],
    ["From", "+14155550100"],
    ["To", "+15005550006"],
    ["Body", "Cancel"],
    ["NumMedia", "0"],
]

FORM_CASES = [
    ("plain inbound SMS", "https://hearth.example.org/twilio/sms", None, SMS),
    ("query string in the URL", "https://hearth.example.org/twilio/sms?practice=7&x=a%20b", None, SMS),
    ("non-ASCII body", "https://hearth.example.org/twilio/sms",
     None, SMS[:4] + [["Body", "Café à 15h? Ça marche 🙂 — ÜBER"]]),
    ("non-ASCII URL path", "https://hearth.example.org/twilio/s%C3%A9ance", None, SMS),
    ("repeated names with different values", "https://hearth.example.org/twilio/mms", None,
     SMS + [["MediaUrl", "https://b.example/2"], ["MediaUrl", "https://a.example/1"]]),
    ("repeated identical values", "https://hearth.example.org/twilio/mms", None,
     SMS + [["Tag", "x"], ["Tag", "x"], ["Tag", "w"]]),
    ("signed with :443, validated without", "https://hearth.example.org:443/twilio/sms",
     "https://hearth.example.org/twilio/sms", SMS),
    ("signed without :443, validated with", "https://hearth.example.org/twilio/sms",
     "https://hearth.example.org:443/twilio/sms", SMS),
    ("http with :80 removed", "http://localhost:80/twilio/sms", "http://localhost/twilio/sms", SMS),
    ("non-default port kept", "https://hearth.example.org:8443/twilio/sms", None, SMS),
    ("empty value and no body", "https://hearth.example.org/twilio/status", None,
     [["MessageSid", "SM0123456789abcdef0123456789abcdef"], ["MessageStatus", "failed"], ["ErrorCode", ""]]),
]

cases = []
for name, sign_url, validate_url, pairs in FORM_CASES:
    validate_url = validate_url or sign_url
    signature = validator.compute_signature(sign_url, MultiParams(pairs))
    assert validator.validate(validate_url, MultiParams(pairs), signature), name
    cases.append({"name": name, "kind": "form", "sign_url": sign_url, "validate_url": validate_url,
                  "params": pairs, "signature": signature})

JSON_BODIES = [
    ("JSON body", '{"MessageSid":"SM0123456789abcdef0123456789abcdef","MessageStatus":"delivered"}'),
    ("JSON body with non-ASCII", '{"note":"délivré 🙂"}'),
]
for name, body in JSON_BODIES:
    url = "https://hearth.example.org/twilio/events?practice=7&bodySHA256=" + validator.compute_hash(body)
    signature = validator.compute_signature(url, {})
    assert validator.validate(url, body, signature), name
    cases.append({"name": name, "kind": "json", "sign_url": url, "validate_url": url,
                  "body": body, "signature": signature})

json.dump({"token": TOKEN, "cases": cases}, sys.stdout, ensure_ascii=False)
