#!/usr/bin/env python3
"""Signs one webhook request with Twilio's own Python SDK (twilio.request_validator), for
tests/twilio_sdk_webhook.rs. Reads {"token", "url", "params": [[name, value], ...]} on stdin and
prints the X-Twilio-Signature the SDK computes. Exits 3 with an instruction when the `twilio`
package is missing."""
import json
import sys

try:
    from twilio.request_validator import RequestValidator
except ImportError:
    sys.stderr.write("the `twilio` Python package is missing: run `python3 -m pip install twilio`\n")
    sys.exit(3)

request = json.load(sys.stdin)
params = {name: value for name, value in request["params"]}
print(RequestValidator(request["token"]).compute_signature(request["url"], params))
