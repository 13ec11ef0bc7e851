//! The mails the application sends, each as plain text and HTML with the same content.
//!
//! Every mail that carries a token shows it twice: inside a link to the web app (or this
//! server's own minimal page), and on its own, so an API-only client can paste it into the
//! mutation. Anything a user typed (their display name) is HTML-escaped in the HTML part.

use chrono::Duration;

/// A rendered mail body, ready to be addressed and enqueued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What a token mail needs: who it greets, the link, the raw token, and how long it works.
pub struct TokenMail<'a> {
    pub display_name: &'a str,
    pub link: &'a str,
    pub token: &'a str,
    pub valid_for: Duration,
}

pub fn password_reset(mail: &TokenMail<'_>) -> RenderedMail {
    render(&PASSWORD_RESET, mail)
}

pub fn email_verification(mail: &TokenMail<'_>) -> RenderedMail {
    render(&EMAIL_VERIFICATION, mail)
}

/// The words of one kind of token mail; [`render`] sets them in the frame every token mail
/// shares. `{valid_for}` stands for how long the token works.
struct TokenTemplate {
    subject: &'static str,
    /// The text part's request, up to the link.
    text_request: &'static str,
    /// The HTML part's request: why the mail came, then what to do before the button.
    html_intro: &'static str,
    html_call: &'static str,
    button: &'static str,
    /// The mutation that takes the token.
    mutation: &'static str,
    text_footer: &'static str,
    html_footer: &'static str,
}

const PASSWORD_RESET: TokenTemplate = TokenTemplate {
    subject: "Reset your Agora password",
    text_request: "someone, hopefully you, asked to reset the password of your Agora account.\n\
                   Choose a new password here within {valid_for}:",
    html_intro: "someone, hopefully you, asked to reset the password of your Agora account.",
    html_call: "Choose a new password within {valid_for}:",
    button: "Reset password",
    mutation: "resetPassword",
    text_footer: "The link works once. Resetting the password logs you out everywhere.\n\
                  If you did not ask for this, ignore this mail: your password stays as it is.",
    html_footer: "The link works once. Resetting the password logs you out everywhere. If you did \
                  not ask for this, ignore this mail: your password stays as it is.",
};

const EMAIL_VERIFICATION: TokenTemplate = TokenTemplate {
    subject: "Confirm your email address for Agora",
    text_request: "please confirm that this is your email address by opening this link within \
                   {valid_for}:",
    html_intro: "please confirm that this is your email address.",
    html_call: "Open this link within {valid_for}:",
    button: "Confirm email address",
    mutation: "verifyEmail",
    text_footer: "If you did not create an Agora account, ignore this mail.",
    html_footer: "If you did not create an Agora account, ignore this mail.",
};

fn render(template: &TokenTemplate, mail: &TokenMail<'_>) -> RenderedMail {
    let valid_for = describe(mail.valid_for);
    let lifetime = |words: &str| words.replace("{valid_for}", &valid_for);
    let (name, link, token) = (mail.display_name, mail.link, mail.token);
    let TokenTemplate {
        mutation,
        text_footer,
        ..
    } = template;
    RenderedMail {
        subject: template.subject.to_owned(),
        text: format!(
            "Hello {name},\n\n{}\n\n{link}\n\n\
             Or send this code with the {mutation} mutation:\n\n{token}\n\n{text_footer}\n",
            lifetime(template.text_request)
        ),
        html: html_page(
            &format!("Hello {},", escape_html(name)),
            template.html_intro,
            &lifetime(template.html_call),
            (template.button, link),
            &format!("Or send this code with the <code>{mutation}</code> mutation:"),
            token,
            template.html_footer,
        ),
    }
}

/// The shared HTML layout. Arguments are trusted HTML except `link` and `token`, which are
/// escaped here.
fn html_page(
    greeting: &str,
    intro: &str,
    call: &str,
    (button, link): (&str, &str),
    code_intro: &str,
    token: &str,
    footer: &str,
) -> String {
    let (link, token) = (escape_html(link), escape_html(token));
    format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif; line-height: 1.5\">\n\
         <p>{greeting}</p>\n<p>{intro}</p>\n<p>{call}</p>\n\
         <p><a href=\"{link}\">{button}</a></p>\n<p>{code_intro}</p>\n\
         <p><code style=\"font-size: 1.1em\">{token}</code></p>\n\
         <p style=\"color: #666\">{footer}</p>\n</body></html>\n"
    )
}

fn escape_html(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// "30 minutes", "1 hour", "2 days": the largest whole unit.
fn describe(duration: Duration) -> String {
    let secs = duration.num_seconds().max(1);
    let (count, unit) = match secs {
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3600 == 0 => (s / 3600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail<'a>(name: &'a str, link: &'a str) -> TokenMail<'a> {
        TokenMail {
            display_name: name,
            link,
            token: "tok_123",
            valid_for: Duration::minutes(30),
        }
    }

    #[test]
    fn a_reset_mail_carries_the_link_the_token_and_the_lifetime_in_both_parts() {
        let rendered = password_reset(&mail(
            "Ann",
            "https://app.example/reset-password?token=tok_123",
        ));
        for part in [&rendered.text, &rendered.html] {
            assert!(part.contains("https://app.example/reset-password?token=tok_123"));
            assert!(part.contains("tok_123"));
            assert!(part.contains("30 minutes"));
        }
    }

    #[test]
    fn user_text_is_escaped_in_html_only() {
        let rendered = email_verification(&mail("<b>Ann</b> & co", "https://x.example/?a=1&b=2"));
        assert!(rendered.html.contains("&lt;b&gt;Ann&lt;/b&gt; &amp; co"));
        assert!(
            rendered
                .html
                .contains("href=\"https://x.example/?a=1&amp;b=2\"")
        );
        assert!(!rendered.html.contains("<b>Ann"));
        assert!(rendered.text.contains("<b>Ann</b> & co"));
    }

    #[test]
    fn lifetimes_are_described_in_the_largest_whole_unit() {
        assert_eq!(describe(Duration::minutes(30)), "30 minutes");
        assert_eq!(describe(Duration::hours(24)), "1 day");
        assert_eq!(describe(Duration::seconds(90)), "90 seconds");
        assert_eq!(describe(Duration::hours(2)), "2 hours");
    }
}
