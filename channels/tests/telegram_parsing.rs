//! Property tests of the Telegram adapter's inbound parsing through its public API: no input
//! panics it, and a generated link token survives the whole trip (link, Telegram's `/start`
//! message, webhook body, parse).

use channels::SecretString;
use channels::telegram::{
    BotUsername, ChatId, StartCommand, StartToken, Update, UpdateContent, WebhookSecret,
    WebhookVerifier,
};
use channels::testing::telegram::text_update;
use proptest::prelude::*;

const SECRET: &str = "proptest-secret_01";

fn verifier() -> WebhookVerifier {
    WebhookVerifier::new(&WebhookSecret::parse(SecretString::from(SECRET)).expect("valid secret"))
}

proptest! {
    #[test]
    fn verifying_and_parsing_arbitrary_requests_never_panics(
        header in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        body in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        let verifier = verifier();
        let _ = verifier.verify_update(header.as_deref(), &body);
        let _ = verifier.verify_update(Some(SECRET.as_bytes()), &body);
    }

    #[test]
    fn only_the_exact_secret_is_accepted(header in "[A-Za-z0-9_-]{0,40}") {
        let accepted = verifier().verify(Some(header.as_bytes())).is_ok();
        prop_assert_eq!(accepted, header == SECRET);
    }

    #[test]
    fn a_link_token_survives_the_trip_through_telegram(
        payload in "[A-Za-z0-9_-]{1,64}",
        chat in any::<i64>(),
        update_id in 0i64..i64::from(i32::MAX),
    ) {
        let token = StartToken::parse(&payload).expect("link-safe payloads of 1-64 are tokens");
        let bot = BotUsername::parse("HearthClinicBot").expect("valid username");
        let link = token.link(&bot);
        let (_, sent_payload) = link.split_once("?start=").expect("a start parameter");

        let body = text_update(update_id, ChatId::new(chat), &format!("/start {sent_payload}"));
        let update = verifier()
            .verify_update(Some(SECRET.as_bytes()), body.to_string().as_bytes())
            .expect("a well-formed update");

        let UpdateContent::Text(message) = update.content else {
            return Err(TestCaseError::fail("expected a text message"));
        };
        prop_assert_eq!(message.chat_id, ChatId::new(chat));
        prop_assert_eq!(StartCommand::parse(&message.text), StartCommand::Link(token));
    }

    #[test]
    fn arbitrary_message_texts_parse_and_never_panic_as_start_commands(text in "\\PC{0,200}") {
        let body = text_update(1, ChatId::new(1), &text);
        let update = Update::parse(body.to_string().as_bytes()).expect("any text is a valid update");
        let UpdateContent::Text(message) = update.content else {
            return Err(TestCaseError::fail("expected a text message"));
        };
        prop_assert_eq!(&message.text, &text);
        let _ = StartCommand::parse(&message.text);
    }
}
