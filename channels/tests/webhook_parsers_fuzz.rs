//! A mutation fuzzer for everything that reads webhook input from the internet: Twilio forms
//! (inbound SMS, status callbacks, signature validation), Telegram updates, the SMS keyword
//! parser and `/start` commands. Stable Rust only (no cargo-fuzz): seeds from the providers'
//! real shapes, mutated at random (bit flips, byte insertions and deletions, splices, boundary
//! bytes, percent-escapes); any panic fails the test and prints the input.
//!
//! Runs for HEARTH_FUZZ_SECONDS (default 3) with a fresh seed each run, printed so a failure
//! can be replayed with HEARTH_FUZZ_SEED. A long run: `HEARTH_FUZZ_SECONDS=600 cargo test -p
//! channels --release --test webhook_parsers_fuzz -- --nocapture`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use channels::telegram::{StartCommand, Update};
use channels::twilio::{DeliveryStatus, InboundSms, WebhookForm, WebhookValidator};
use channels::{Keyword, SecretString};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEEDS: &[&[u8]] = &[
    b"ToCountry=US&ToState=IL&SmsMessageSid=SM0123456789abcdef0123456789abcdef&NumMedia=0&ToCity=CHICAGO&FromZip=60601&SmsSid=SM0123456789abcdef0123456789abcdef&FromState=IL&SmsStatus=received&FromCity=CHICAGO&Body=STOP&FromCountry=US&To=%2B15550100000&ToZip=60601&NumSegments=1&MessageSid=SM0123456789abcdef0123456789abcdef&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B15550104242&ApiVersion=2010-04-01",
    b"MessageSid=SM0123456789abcdef0123456789abcdef&MessageStatus=undelivered&ErrorCode=30006&AccountSid=AC0123456789abcdef0123456789abcdef&To=%2B15550104242&From=%2B15550100000&ApiVersion=2010-04-01",
    b"Body=Caf%C3%A9+%F0%9F%91%8D+cancel+my+appointment&MessageSid=MM0123456789abcdef0123456789abcdef&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B447700900123&To=%2B15550100000&NumMedia=2",
    br#"{"update_id":7001,"message":{"message_id":5,"date":1780000000,"chat":{"id":4242,"type":"private"},"from":{"id":4242,"is_bot":false,"first_name":"Sam"},"text":"/start AbC_123-xyz"}}"#,
    br#"{"update_id":7002,"edited_message":{"message_id":6,"date":1780000000,"chat":{"id":-100,"type":"supergroup"},"text":"STOP"}}"#,
    b"OPT OUT",
    b" stop. ",
];

const INTERESTING: &[&[u8]] = &[b"%", b"%FF", b"%00", b"&", b"=", b"+", b"\xF0\x9F\x91", b"\xFF", b"\x00", b"\"", b"{", b"}", b"[", b"-9223372036854775809", b"99999999999999999999", b"\xE2\x80\xA8", b"/start ", b"@"];

fn mutate(rng: &mut StdRng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.gen_range(1..=8) {
        match rng.gen_range(0..6) {
            0 if !out.is_empty() => {
                let i = rng.gen_range(0..out.len());
                out[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => {
                let i = rng.gen_range(0..=out.len());
                out.insert(i, rng.r#gen());
            }
            2 if !out.is_empty() => {
                let i = rng.gen_range(0..out.len());
                let n = rng.gen_range(1..=(out.len() - i).min(16));
                out.drain(i..i + n);
            }
            3 => {
                let i = rng.gen_range(0..=out.len());
                let piece = INTERESTING[rng.gen_range(0..INTERESTING.len())];
                out.splice(i..i, piece.iter().copied());
            }
            4 => {
                let other = SEEDS[rng.gen_range(0..SEEDS.len())];
                let cut = rng.gen_range(0..=other.len());
                let at = rng.gen_range(0..=out.len());
                out.truncate(at);
                out.extend_from_slice(&other[cut..]);
            }
            _ => {
                let i = rng.gen_range(0..=out.len());
                let n = rng.gen_range(1..64);
                out.splice(i..i, std::iter::repeat_n(b'a', n));
            }
        }
    }
    out
}

/// Feeds one input to every parser; none may panic (errors are fine).
fn exercise(input: &[u8], validator: &WebhookValidator) {
    if let Ok(form) = WebhookForm::parse(input) {
        let _ = InboundSms::from_form(&form);
        let _ = DeliveryStatus::from_form(&form).map(|s| s.failure());
        let _ = validator.validate_form("https://hearth.example.org/webhooks/twilio/sms", form.fields(), form.get("Body"));
    }
    let _ = validator.verify_form("https://hearth.example.org:443/webhooks/twilio/sms?x=1", input, Some("abc="));
    let _ = validator.validate_json("https://hearth.example.org/webhooks/twilio/status?bodySHA256=00", input, Some("abc="));
    let _ = Update::parse(input);
    let text = String::from_utf8_lossy(input);
    let _ = Keyword::parse(&text);
    let _ = StartCommand::parse(&text);
    let _ = channels::sms::count_segments(&text);
}

#[test]
fn no_webhook_input_makes_a_parser_panic() {
    let seconds: u64 = std::env::var("HEARTH_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let seed: u64 = std::env::var("HEARTH_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("fuzzing webhook parsers for {seconds} s with HEARTH_FUZZ_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let validator = WebhookValidator::new(SecretString::from("f3c1a9e07b2d4c58a6e1d0b9c7f24e13".to_owned()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut corpus: Vec<Vec<u8>> = SEEDS.iter().map(|s| s.to_vec()).collect();
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let base = &corpus[rng.gen_range(0..corpus.len())];
        let input = mutate(&mut rng, base);
        if catch_unwind(AssertUnwindSafe(|| exercise(&input, &validator))).is_err() {
            panic!("a parser panicked on input {:?} (HEARTH_FUZZ_SEED={seed})", String::from_utf8_lossy(&input));
        }
        // Keep a few mutants as new bases, so mutations compound.
        if corpus.len() < 512 && rng.gen_ratio(1, 64) {
            corpus.push(input);
        }
        runs += 1;
    }
    eprintln!("{runs} inputs, no panic");
    assert!(runs > 1000, "the fuzzer ran only {runs} inputs in {seconds} s");
}
