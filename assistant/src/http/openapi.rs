//! The OpenAPI 3 description of the API, served at `/api/openapi.json` (utoipa).

use axum::Json;
use axum::routing::get;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hearth API",
        description = "Staff API of Hearth: clients, contacts, shares, users and sign-in. All routes need a signed-in session cookie except sign-in itself."
    ),
    paths(
        super::clients::list,
        super::clients::create,
        super::clients::read,
        super::clients::update,
        super::clients::remove,
        super::clients::read_contacts,
        super::clients::replace_contacts,
        super::clients::list_shares,
        super::clients::share,
        super::clients::unshare,
        super::sign_in::login,
        super::sign_in::enroll_totp,
        super::sign_in::verify_totp,
        super::sign_in::use_recovery_code,
        super::sign_in::remove_totp,
        super::sign_in::logout,
        super::sign_in::me,
        super::users::list,
        super::users::create,
        super::users::read,
        super::users::update,
        super::users::reset_totp,
        super::appointments::list,
        super::appointments::create,
        super::appointments::read,
        super::appointments::update,
        super::appointments::change_status,
        super::appointments::history,
        super::appointments::for_client,
        super::records::list_consents,
        super::records::record_consent,
        super::records::read_consent,
        super::records::revoke_consent,
        super::records::list_notes,
        super::records::read_note,
        super::availability::read,
        super::availability::add_slot,
        super::availability::remove_slot,
        super::availability::add_exception,
    ),
    components(schemas(
        super::error::ErrorBody,
        super::error::ErrorDetail,
        super::sign_in::LoginRequest,
        super::sign_in::LoginResponse,
        super::sign_in::NextStep,
        super::sign_in::Enrollment,
        super::sign_in::CodeRequest,
        super::sign_in::Me,
        super::client_input::ClientInput,
        super::client_input::ContactInput,
        super::clients::ShareInput,
        super::appointments::AppointmentInput,
        super::appointments::StatusInput,
        super::records::ConsentInput,
        super::availability::SlotInput,
        super::availability::ExceptionInput,
        super::users::UserView,
        super::users::NewUserInput,
        super::users::UserUpdateInput,
        crate::authz::Role,
    ))
)]
pub struct ApiDoc;

pub fn router() -> axum::Router<crate::app::AppState> {
    axum::Router::new().route(
        "/api/openapi.json",
        get(|| async { Json(ApiDoc::openapi()) }),
    )
}
