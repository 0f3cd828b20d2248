//! The fake's HTTP endpoints: `POST` and `GET /2010-04-01/Accounts/{sid}/Messages.json`, with
//! Twilio's basic auth, validation errors and JSON shapes
//! (twilio.com/docs/messaging/api/message-resource, twilio.com/docs/api/errors).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};

use super::{AcceptedSms, Answer, Chaos, CreateRequest, Scripted, Shared, lock};
use crate::twilio::MessageSid;

const MESSAGES_PATH: &str = "/2010-04-01/Accounts/{account}/Messages.json";

pub(super) fn router(state: Shared) -> Router {
    Router::new()
        .route(MESSAGES_PATH, get(list).post(create))
        .with_state(state)
}

/// Twilio's error body: `{"code", "message", "more_info", "status"}`.
fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The denial is boxed: a `Response` is large and this is the rare path.
fn authorised(state: &Shared, account: &str, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let unauthorised = || {
        Box::new(twilio_error(
            StatusCode::UNAUTHORIZED,
            20003,
            "Authenticate",
        ))
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorised)?;
    let encoded = value.strip_prefix("Basic ").ok_or_else(unauthorised)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| unauthorised())?;
    let decoded = String::from_utf8(decoded).map_err(|_| unauthorised())?;
    let (user, pass) = decoded.split_once(':').ok_or_else(unauthorised)?;
    let s = lock(state);
    let ok = (user == s.account_sid.as_str() && pass == s.auth_token)
        || s.api_keys
            .iter()
            .any(|(k, secret)| k == user && secret == pass);
    if !ok {
        return Err(unauthorised());
    }
    if account != s.account_sid.as_str() {
        return Err(Box::new(twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        )));
    }
    Ok(())
}

fn message_json(account: &str, m: &AcceptedSms, status: &str) -> Value {
    let date = m.date_sent.to_rfc2822();
    json!({
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": m.body,
        "date_created": date,
        "date_sent": date,
        "date_updated": date,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": m.from,
        "messaging_service_sid": m.messaging_service_sid,
        "num_media": "0",
        "num_segments": crate::sms::count_segments(&m.body).segments.to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": m.sid.as_str(),
        "status": status,
        "subresource_uris": {"media": format!("/2010-04-01/Accounts/{account}/Messages/{}/Media.json", m.sid)},
        "to": m.to,
        "uri": format!("/2010-04-01/Accounts/{account}/Messages/{}.json", m.sid),
    })
}

async fn create(
    AxumState(state): AxumState<Shared>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(denied) = authorised(&state, &account, &headers) {
        return *denied;
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let Some(to) = field("To") else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        );
    };
    let from = field("From").filter(|f| !f.is_empty());
    let service = field("MessagingServiceSid").filter(|m| !m.is_empty());
    if from.is_none() && service.is_none() {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21603,
            "A 'From' phone number is required.",
        );
    }
    let Some(text) = field("Body").filter(|b| !b.is_empty()) else {
        return twilio_error(StatusCode::BAD_REQUEST, 21602, "Message body is required.");
    };
    if text.chars().count() > 1600 {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    let e164 = to
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    if !e164 {
        return twilio_error(StatusCode::BAD_REQUEST, 21211, "Invalid 'To' Phone Number");
    }
    let scripted = {
        let mut s = lock(&state);
        if s.opted_out.contains(&to) {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                21610,
                "Attempt to send to unsubscribed recipient",
            );
        }
        if s.not_mobile.contains(&to) {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                21614,
                "'To' number is not a valid mobile number",
            );
        }
        let scripted = s.script.pop_front();
        scripted.or_else(|| s.chaos.as_ref().and_then(draw))
    };
    let refusal = match &scripted {
        Some(Scripted::RateLimited { retry_after_secs }) => Some(Answer::RateLimited {
            retry_after_secs: *retry_after_secs,
        }),
        Some(Scripted::ServerError) => Some(Answer::ServerError),
        Some(Scripted::Refuse { status, code }) => Some(Answer::Refused {
            status: *status,
            code: *code,
        }),
        Some(Scripted::AcceptThenHang(_)) | None => None,
    };
    if let Some(answer) = refusal {
        lock(&state).requests.push(CreateRequest {
            at: std::time::Instant::now(),
            to: to.clone(),
            body: text.clone(),
            answer,
        });
    }
    match scripted {
        Some(Scripted::RateLimited { retry_after_secs }) => {
            let mut response =
                twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
            if let Some(secs) = retry_after_secs {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, secs.into());
            }
            return response;
        }
        Some(Scripted::ServerError) => {
            return twilio_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                20500,
                "Internal Server Error",
            );
        }
        Some(Scripted::Refuse { status, code }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            return twilio_error(status, code, "Scripted refusal");
        }
        Some(Scripted::AcceptThenHang(_)) | None => {}
    }
    let message = {
        let mut s = lock(&state);
        let n = s.next_id;
        s.next_id += 1;
        let sid =
            MessageSid::parse(&format!("SM{n:032x}")).expect("SM plus 32 hex digits is a SID");
        let m = AcceptedSms {
            sid,
            to,
            from: if service.is_some() { None } else { from },
            messaging_service_sid: service.clone(),
            body: text,
            status_callback: field("StatusCallback"),
            date_sent: chrono::Utc::now(),
        };
        s.accepted.push(m.clone());
        let answer = if matches!(scripted, Some(Scripted::AcceptThenHang(_))) {
            Answer::AcceptedThenHung(m.sid.clone())
        } else {
            Answer::Accepted(m.sid.clone())
        };
        s.requests.push(CreateRequest {
            at: std::time::Instant::now(),
            to: m.to.clone(),
            body: m.body.clone(),
            answer,
        });
        m
    };
    if let Some(Scripted::AcceptThenHang(delay)) = scripted {
        tokio::time::sleep(delay).await;
    }
    // A Messaging Service answers "accepted" (it picks the sender later); a number, "queued".
    let status = if service.is_some() {
        "accepted"
    } else {
        "queued"
    };
    let json = message_json(&account, &message, status);
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        json.to_string(),
    )
        .into_response()
}

/// Draws a random fault from `chaos`, or `None` to accept normally.
fn draw(chaos: &Chaos) -> Option<Scripted> {
    use rand::Rng as _;
    let x: f64 = rand::thread_rng().r#gen();
    if x < chaos.rate_limited {
        Some(Scripted::RateLimited {
            retry_after_secs: Some(chaos.retry_after_secs),
        })
    } else if x < chaos.rate_limited + chaos.server_error {
        Some(Scripted::ServerError)
    } else if x < chaos.rate_limited + chaos.server_error + chaos.accept_then_hang {
        Some(Scripted::AcceptThenHang(chaos.hang))
    } else {
        None
    }
}

async fn list(
    AxumState(state): AxumState<Shared>,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = authorised(&state, &account, &headers) {
        return *denied;
    }
    let query = query.unwrap_or_default();
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let after = match param("DateSent>").map(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d"))
    {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => return twilio_error(StatusCode::BAD_REQUEST, 20001, "Invalid DateSent"),
    };
    let (cap, mut matching) = {
        let s = lock(&state);
        let matching: Vec<AcceptedSms> = s
            .accepted
            .iter()
            .filter(|m| param("To").is_none_or(|to| m.to == to))
            .filter(|m| after.is_none_or(|d| m.date_sent.date_naive() >= d))
            .cloned()
            .collect();
        (s.page_size_cap, matching)
    };
    matching.reverse(); // newest first, as Twilio lists
    let page_size = param("PageSize")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, cap);
    let page = param("Page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0);
    let start = page.saturating_mul(page_size).min(matching.len());
    let end = (start + page_size).min(matching.len());
    let messages: Vec<Value> = matching[start..end]
        .iter()
        .map(|m| message_json(&account, m, "sent"))
        .collect();
    let base = format!("/2010-04-01/Accounts/{account}/Messages.json");
    let mut next_query: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Page" && k != "PageSize")
        .cloned()
        .collect();
    next_query.push(("PageSize".into(), page_size.to_string()));
    next_query.push(("Page".into(), (page + 1).to_string()));
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&next_query)
        .finish();
    let next_page_uri = (end < matching.len()).then(|| format!("{base}?{encoded}"));
    let body = json!({
        "messages": messages,
        "end": end.saturating_sub(1),
        "first_page_uri": format!("{base}?PageSize={page_size}&Page=0"),
        "next_page_uri": next_page_uri,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": null,
        "start": start,
        "uri": format!("{base}?{query}"),
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
