//! Reading the mail the app wrote in file mode: waiting for the delivery worker's
//! announcement, then parsing the `.eml` file just far enough to check what a person would
//! read (MIME parts, quoted-printable and base64 bodies).

use std::path::Path;

use base64::Engine;

/// One delivered message, decoded.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    pub fn read(path: &Path) -> Mail {
        let raw = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{} is readable: {e}", path.display()));
        Mail::parse(&raw)
    }

    pub fn parse(raw: &str) -> Mail {
        let (headers, body) = split_part(raw);
        let content_type = header(&headers, "content-type").expect("a Content-Type");
        assert!(
            content_type.starts_with("multipart/alternative"),
            "text and HTML alternatives: {content_type}"
        );
        let boundary = content_type
            .split("boundary=")
            .nth(1)
            .expect("a boundary")
            .trim_matches('"')
            .to_owned();
        let (mut text, mut html) = (None, None);
        for part in body.split(&format!("--{boundary}")).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let (part_headers, part_body) = split_part(part.trim_start_matches("\r\n"));
            let decoded = decode(
                part_body,
                header(&part_headers, "content-transfer-encoding").as_deref(),
            );
            match header(&part_headers, "content-type") {
                Some(t) if t.starts_with("text/plain") => text = Some(decoded),
                Some(t) if t.starts_with("text/html") => html = Some(decoded),
                other => panic!("unexpected part {other:?}"),
            }
        }
        Mail {
            to: header(&headers, "to").expect("a To header"),
            subject: header(&headers, "subject").expect("a Subject header"),
            message_id: header(&headers, "message-id").expect("a Message-ID header"),
            text: text.expect("a text/plain part"),
            html: html.expect("a text/html part"),
        }
    }

    /// The token in the link to `{public_url}/{path}?token=…` in the text part, checking the
    /// HTML part links to the same URL and the token is also shown on its own.
    pub fn token_in_link(&self, path: &str) -> String {
        let marker = format!("/{path}?token=");
        let start = self
            .text
            .find(&marker)
            .unwrap_or_else(|| panic!("a {marker} link in {}", self.text))
            + marker.len();
        let token: String = self.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert_eq!(token.len(), 43, "a 256-bit base64url token: {token}");
        assert!(
            self.html.contains(&format!("{marker}{token}\"")),
            "{}",
            self.html
        );
        assert!(
            self.text.lines().any(|line| line.trim() == token),
            "the token on a line of its own"
        );
        token
    }
}

fn split_part(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .expect("headers, a blank line, a body");
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers.last_mut().expect("a folded line follows a header");
            value.push(' ');
            value.push_str(line.trim());
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_lowercase(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

fn decode(body: &str, encoding: Option<&str>) -> String {
    match encoding.map(str::to_lowercase).as_deref() {
        Some("quoted-printable") => quoted_printable(body),
        Some("base64") => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .expect("valid base64");
            String::from_utf8(bytes).expect("UTF-8 text")
        }
        _ => body.to_owned(),
    }
    .replace("\r\n", "\n")
}

fn quoted_printable(body: &str) -> String {
    let unfolded = body.replace("=\r\n", "");
    let bytes = unfolded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 text")
}
