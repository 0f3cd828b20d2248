//! Twilio error codes sorted into what the sender does next. Codes are documented at
//! twilio.com/docs/api/errors/<code>.
//!
//! Two families arrive at different times:
//! - 2xxxx codes come back synchronously, in the JSON error of the create-message request
//!   (`{"code": 21610, "message": ..., "more_info": ..., "status": 400}`);
//! - 3xxxx codes describe delivery and arrive later, as `ErrorCode` in a status callback with
//!   `MessageStatus=failed|undelivered` (and in the message resource's `error_code`).
//!
//! The same classification serves both.

/// What to do about a message Twilio did not deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Temporary: send again later.
    RetryLater,
    /// Permanent for this message: do not send it again.
    NeverRetry,
    /// The recipient opted out: record it; send nothing until they reply START.
    OptedOut,
    /// The number cannot receive SMS: flag it for staff to correct. Never retried.
    BadNumber,
    /// Our account or sender is misconfigured: alert an operator. Never retried as is.
    Misconfigured,
}

/// Classifies a Twilio error code; codes not listed fall back to [`FailureClass::NeverRetry`]
/// (callers with an HTTP status use [`classify_http`] which treats 5xx as temporary).
pub fn classify_error_code(code: u32) -> FailureClass {
    use FailureClass::*;
    match code {
        // Synchronous (REST API).
        20429 => RetryLater,                         // Too Many Requests
        21611 => RetryLater,                         // the From number's outbound queue is full
        21610 => OptedOut,                           // Attempt to send to unsubscribed recipient
        21211 => BadNumber,                          // Invalid 'To' Phone Number
        21614 => BadNumber,                          // 'To' number is not a valid mobile number
        21612 => NeverRetry, // 'To' number is not reachable via SMS from this sender
        20003 | 20404 => Misconfigured, // authentication failed / account or resource not found
        21408 => Misconfigured, // sending to this region is not enabled
        21606 | 21659 | 21660 => Misconfigured, // From is not one of our SMS-capable senders
        21602 | 21603 | 21604 | 21617 => NeverRetry, // Body / From / To missing, Body over 1,600
        // Asynchronous (status callbacks).
        30001 => RetryLater,    // Queue overflow
        30410 => RetryLater,    // Provider timeout
        30002 => Misconfigured, // Account suspended
        30034 => Misconfigured, // US A2P 10DLC: message from an unregistered number
        30003 => NeverRetry,    // Unreachable destination handset
        30004 => NeverRetry,    // Message blocked (the recipient or carrier blocks us)
        30007 => NeverRetry,    // Message filtered by the carrier
        30008 => NeverRetry,    // Unknown error: do not repeat an unexplained failure blindly
        30005 => BadNumber,     // Unknown destination handset (the number does not exist)
        30006 => BadNumber,     // Landline or unreachable carrier
        _ => NeverRetry,
    }
}

/// Classifies a failed REST call from its HTTP status and, when present, Twilio's code.
pub fn classify_http(status: u16, code: Option<u32>) -> FailureClass {
    match (status, code) {
        (429, _) => FailureClass::RetryLater,
        (401 | 403, _) => FailureClass::Misconfigured,
        (500..=599, _) => FailureClass::RetryLater,
        (_, Some(code)) => classify_error_code(code),
        (_, None) => FailureClass::NeverRetry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_named_in_the_gateway_issue_land_in_their_classes() {
        assert_eq!(classify_error_code(20429), FailureClass::RetryLater);
        assert_eq!(classify_error_code(21610), FailureClass::OptedOut);
        assert_eq!(classify_error_code(21211), FailureClass::BadNumber);
        assert_eq!(classify_error_code(21614), FailureClass::BadNumber);
        for code in [30003, 30007] {
            assert_eq!(
                classify_error_code(code),
                FailureClass::NeverRetry,
                "{code}"
            );
        }
        assert_eq!(classify_error_code(30006), FailureClass::BadNumber);
    }

    #[test]
    fn server_errors_and_rate_limits_are_temporary_whatever_the_code() {
        assert_eq!(classify_http(503, None), FailureClass::RetryLater);
        assert_eq!(classify_http(500, Some(20500)), FailureClass::RetryLater);
        assert_eq!(classify_http(429, Some(20429)), FailureClass::RetryLater);
        assert_eq!(classify_http(401, Some(20003)), FailureClass::Misconfigured);
        assert_eq!(classify_http(400, Some(21610)), FailureClass::OptedOut);
        assert_eq!(classify_http(400, None), FailureClass::NeverRetry);
    }
}
