//! What a page is made of. Every page is one template (`page.html`) over a
//! list of blocks, so escaping, labels, error summaries and table markup are
//! written once; askama escapes every value it prints.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use partnerops_domain::field::FieldError;

pub struct Link {
    pub href: String,
    pub label: String,
    pub current: bool,
}

impl Link {
    pub fn new(href: impl Into<String>, label: impl Into<String>) -> Self {
        Self { href: href.into(), label: label.into(), current: false }
    }

    pub fn current(mut self, current: bool) -> Self {
        self.current = current;
        self
    }
}

#[derive(Default)]
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
    pub class: &'static str,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), ..Self::default() }
    }

    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Self {
        Self { text: text.into(), href: Some(href.into()), class: "" }
    }

    pub fn num(text: impl Into<String>) -> Self {
        Self { text: text.into(), href: None, class: "num" }
    }

    pub fn class(mut self, class: &'static str) -> Self {
        self.class = class;
        self
    }
}

pub struct Table {
    pub heading: String,
    pub caption: String,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
    pub empty: String,
    pub next: Option<String>,
}

impl Table {
    pub fn new(caption: impl Into<String>, headers: Vec<&'static str>) -> Self {
        Self {
            heading: String::new(),
            caption: caption.into(),
            headers,
            rows: Vec::new(),
            empty: "Nothing here yet.".into(),
            next: None,
        }
    }

    pub fn heading(mut self, heading: impl Into<String>) -> Self {
        self.heading = heading.into();
        self
    }

    pub fn empty(mut self, empty: impl Into<String>) -> Self {
        self.empty = empty.into();
        self
    }
}

pub enum FieldKind {
    Input(&'static str),
    TextArea,
    Select,
    Checkbox,
    Hidden,
    Honeypot,
}

pub struct SelectOption {
    pub value: String,
    pub label: String,
}

pub struct Field {
    pub name: &'static str,
    pub id: String,
    pub label: &'static str,
    pub kind: FieldKind,
    pub value: String,
    pub required: bool,
    pub hint: Option<&'static str>,
    pub autocomplete: &'static str,
    pub options: Vec<SelectOption>,
    pub error: Option<String>,
}

impl Field {
    fn new(name: &'static str, label: &'static str, kind: FieldKind) -> Self {
        Self {
            name,
            id: format!("f-{}", name.replace(['.', '_'], "-")),
            label,
            kind,
            value: String::new(),
            required: false,
            hint: None,
            autocomplete: "",
            options: Vec::new(),
            error: None,
        }
    }

    pub fn input(name: &'static str, label: &'static str, kind: &'static str) -> Self {
        Self::new(name, label, FieldKind::Input(kind))
    }

    pub fn textarea(name: &'static str, label: &'static str) -> Self {
        Self::new(name, label, FieldKind::TextArea)
    }

    pub fn checkbox(name: &'static str, label: &'static str) -> Self {
        Self::new(name, label, FieldKind::Checkbox)
    }

    pub fn hidden(name: &'static str, value: &str) -> Self {
        let mut field = Self::new(name, "", FieldKind::Hidden);
        field.value = value.to_owned();
        field
    }

    pub fn honeypot(name: &'static str) -> Self {
        Self::new(name, "Leave this field empty", FieldKind::Honeypot)
    }

    pub fn select(name: &'static str, label: &'static str, options: &[(&str, &str)]) -> Self {
        let mut field = Self::new(name, label, FieldKind::Select);
        field.options =
            options.iter().map(|(v, l)| SelectOption { value: (*v).to_owned(), label: (*l).to_owned() }).collect();
        field
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn autocomplete(mut self, autocomplete: &'static str) -> Self {
        self.autocomplete = autocomplete;
        self
    }
}

pub struct Form {
    pub heading: String,
    pub action: String,
    pub csrf: Option<String>,
    pub fields: Vec<Field>,
    pub submit: &'static str,
}

pub enum Block {
    Paragraph(String),
    Notice(String),
    Links(&'static str, Vec<Link>),
    Facts(String, Vec<(&'static str, Cell)>),
    Table(Table),
    Form(Form),
    /// An SVG drawn by the server from numbers only (no user text in it
    /// unescaped), with its accessible name.
    Svg(String, String),
}

pub struct SummaryError {
    pub anchor: String,
    pub label: String,
    pub message: String,
}

#[derive(Default)]
pub struct Layout {
    pub title: String,
    pub nav: Vec<Link>,
    pub csrf: Option<String>,
    pub who: String,
    pub errors: Vec<SummaryError>,
}

#[derive(Template)]
#[template(path = "page.html")]
pub struct Page {
    pub layout: Layout,
    pub blocks: Vec<Block>,
}

/// Puts each error beside its field and in the summary; errors for fields
/// the form does not show stay in the summary only.
pub fn attach_errors(fields: &mut [Field], errors: &[FieldError]) -> Vec<SummaryError> {
    let mut summary = Vec::new();
    for error in errors {
        let target = fields.iter_mut().find(|f| {
            f.name == error.field
                || error.field.starts_with(&format!("{}.", f.name))
                || error.field.starts_with(&format!("{}[", f.name))
        });
        match target {
            Some(field) => {
                if field.error.is_none() {
                    field.error = Some(error.message.clone());
                }
                summary.push(SummaryError {
                    anchor: field.id.clone(),
                    label: field.label.to_owned(),
                    message: error.message.clone(),
                });
            }
            None => summary.push(SummaryError {
                anchor: "main".into(),
                label: error.field.clone(),
                message: error.message.clone(),
            }),
        }
    }
    summary
}

/// The page as an HTML response with `status`.
pub fn html(status: StatusCode, page: Page) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.").into_response()
        }
    }
}
