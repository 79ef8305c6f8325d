//! Extractors whose rejections are [`Error`]s, so that a malformed path parameter or
//! upload gets the same JSON body (`{"error": "…"}`) as every other bad request, as the
//! OpenAPI document says; [`Upload`], a file sent raw or in a multipart form; and
//! [`RequestLang`], the language a request asks for.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::Error;
use crate::lang::Lang;

/// The language a `lang` parameter or form field names; one cadena does not speak is a 400.
pub fn asked_lang(tag: &str) -> Result<Lang, Error> {
    Lang::parse(tag).ok_or_else(|| Error::BadRequest(format!("lang: {}", Lang::unknown(tag))))
}

/// The `lang` query parameter, as the OpenAPI document describes it ([`RequestLang`] reads it).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LangQuery {
    /// The language of the texts people read (rule titles, actions, questions, evidence):
    /// `es`, `pt` or `en`. Not given: the first of `Accept-Language` that cadena speaks, else `en`.
    lang: Option<Lang>,
}

/// The language a request asks its texts in: the `lang` query parameter (one cadena
/// does not speak is a 400), else the first language of `Accept-Language` that cadena
/// speaks, else none (English).
pub struct RequestLang(pub Option<Lang>);

impl<S: Send + Sync> FromRequestParts<S> for RequestLang {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<RequestLang, Error> {
        let params = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri);
        let asked = params.ok().and_then(|params| params.0.into_iter().find(|(key, _)| key == "lang"));
        let asked = asked.map(|(_, tag)| tag);
        // An empty `lang=` is a language asked for and not named: a 400, like any other.
        if let Some(tag) = asked {
            return Ok(RequestLang(Some(asked_lang(&tag)?)));
        }
        let header = parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|value| value.to_str().ok());
        Ok(RequestLang(header.and_then(Lang::from_accept_language)))
    }
}

/// [`axum::extract::Path`], answering a parameter that does not parse with a JSON 400.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Path<T>, Error> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(Error::BadRequest(rejection.body_text())),
        }
    }
}

/// An uploaded file: the raw body, or the `file` part of a `multipart/form-data` form
/// (as a browser form or `curl -F kind=watchlist -F file=@lista.csv` sends it), with the
/// form's other fields, which stand for the query parameters of the same names.
pub struct Upload {
    pub bytes: Bytes,
    /// The name the client gave the file (a multipart upload's `filename`).
    pub file_name: Option<String>,
    /// The form's text fields, by name (none for a raw body).
    pub fields: BTreeMap<String, String>,
}

impl Upload {
    /// A query parameter, or else the form field of the same name; both, saying
    /// different things, is a 400 (the one not taken would be dropped without a word).
    pub fn param(&mut self, query: Option<String>, name: &str) -> Result<Option<String>, Error> {
        let given = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
        match (given(query), given(self.fields.remove(name))) {
            (Some(query), Some(field)) if query != field => Err(Error::BadRequest(format!(
                "{name} is given twice, as the query parameter {query:?} and the form field {field:?}: give it once"
            ))),
            (query, field) => Ok(query.or(field)),
        }
    }

    /// Refuses form fields that no parameter took, naming them (a misspelt `kind` would
    /// otherwise be dropped without a word).
    pub fn no_other_fields(&self, known: &[&str]) -> Result<(), Error> {
        match self.fields.keys().next() {
            None => Ok(()),
            Some(name) => Err(Error::BadRequest(format!(
                "{name:?} is not a field of this upload form (file, {})",
                known.join(", ")
            ))),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Upload, Error> {
        let is_multipart = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
        if !is_multipart {
            let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::PayloadTooLarge(rejection.body_text())
                } else {
                    Error::BadRequest(rejection.body_text())
                }
            })?;
            return Ok(Upload { bytes, file_name: None, fields: BTreeMap::new() });
        }
        let mut multipart = Multipart::from_request(request, state)
            .await
            .map_err(|rejection| Error::BadRequest(rejection.body_text()))?;
        let mut file: Option<(Bytes, Option<String>)> = None;
        let mut fields = BTreeMap::new();
        while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
            let name = field.name().unwrap_or_default().to_owned();
            if name == "file" {
                if file.is_some() {
                    return Err(Error::BadRequest("an upload form carries one `file`".to_owned()));
                }
                let file_name = field.file_name().map(str::to_owned);
                file = Some((field.bytes().await.map_err(multipart_error)?, file_name));
            } else {
                let text = field.text().await.map_err(multipart_error)?;
                fields.insert(name, text);
            }
        }
        let Some((bytes, file_name)) = file else {
            return Err(Error::BadRequest("a multipart upload needs a `file` part holding the file".to_owned()));
        };
        Ok(Upload { bytes, file_name: file_name.filter(|name| !name.trim().is_empty()), fields })
    }
}

fn multipart_error(error: MultipartError) -> Error {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge(error.body_text())
    } else {
        Error::BadRequest(format!("the multipart form cannot be read: {}", error.body_text()))
    }
}
