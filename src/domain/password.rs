//! Passwords as users choose them: the length policy, checked where the input arrives, and the
//! strength estimate, checked by the accounts service once it knows whose password it is.

use zxcvbn::matching::patterns::MatchPattern;

use super::validation::ValidationError;
use super::{Email, Username};

/// The lowest zxcvbn score accepted: 3 means about 10¹⁰ guesses, "safely unguessable" for an
/// offline attack on a slow hash (argon2 here). `password` and `12345678` score 0.
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// How many characters the estimator examines; the rest of a longer password is not looked
/// at. zxcvbn's cost grows much faster than the length, worst with many characters its l33t
/// matcher tries substitutions for (`4@8(3!|7+$5…`). Measured in a release build on a busy
/// 2-core machine, such input takes ~10 ms at 16 characters, ~50 ms at 32, ~300 ms at 64
/// and 0.6–1.4 s at the 128 the policy allows; ordinary passwords take under 0.3 ms and
/// random 32-character strings under 1 ms. At 32
/// a passphrase of four or five words is examined whole, and a password whose first 32
/// characters are guessable is refused whatever follows, which costs a user little.
const STRENGTH_EXAMINED_CHARS: usize = 32;

/// A password as chosen by the user, checked against the policy (OWASP ASVS 2.1): 8–128
/// characters, not only whitespace. It is never stored or logged, only hashed.
///
/// It remembers the input field it came from, so the strength check, which runs later in the
/// service, refuses it under the same `field` as the length policy would.
#[derive(Clone)]
pub struct NewPassword {
    value: String,
    field: String,
}

impl NewPassword {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let len = raw.chars().count();
        if len < 8 {
            return Err(ValidationError::new(field, "must be at least 8 characters"));
        }
        if len > 128 {
            return Err(ValidationError::new(
                field,
                "must be at most 128 characters",
            ));
        }
        if raw.trim().is_empty() {
            return Err(ValidationError::new(field, "must not be only whitespace"));
        }
        Ok(Self {
            value: raw.to_owned(),
            field: field.to_owned(),
        })
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Refuses a password that zxcvbn scores below 3 for this user, with zxcvbn's own
    /// explanation ("This is a top-10 common password. Add another word or two…") as the
    /// message. The user's email, its local part and the username are what an attacker tries
    /// first, so zxcvbn counts a password built from them as guessable.
    ///
    /// Pure but CPU-bound (up to ~50 ms, see [`STRENGTH_EXAMINED_CHARS`]): async callers run
    /// it on the blocking pool, a few at a time.
    pub fn check_strength(
        &self,
        email: &Email,
        username: &Username,
    ) -> Result<(), ValidationError> {
        let local_part = email.as_str().split('@').next().unwrap_or_default();
        self.check_strength_against(&[email.as_str(), local_part, username.as_str()])
    }

    fn check_strength_against(&self, user_inputs: &[&str]) -> Result<(), ValidationError> {
        let examined = match self.value.char_indices().nth(STRENGTH_EXAMINED_CHARS) {
            Some((end, _)) => &self.value[..end],
            None => &self.value,
        };
        let estimate = zxcvbn::zxcvbn(examined, user_inputs);
        if estimate.score() >= MIN_SCORE {
            return Ok(());
        }
        // zxcvbn has no warning of its own for a password built from the user's details.
        let own_details = estimate.sequence().iter().any(|m| {
            matches!(&m.pattern, MatchPattern::Dictionary(d)
                if user_inputs.iter().any(|input| input.to_lowercase() == d.matched_word))
        });
        let feedback = estimate.feedback();
        let mut message = String::from("is too easy to guess.");
        if own_details {
            message.push_str(" It contains your email address or username.");
        } else if let Some(warning) = feedback.and_then(|f| f.warning()) {
            message.push_str(&format!(" {warning}"));
        }
        match feedback.map(|f| f.suggestions()).filter(|s| !s.is_empty()) {
            Some(suggestions) => {
                for suggestion in suggestions {
                    message.push_str(&format!(" {suggestion}"));
                }
            }
            None => message.push_str(" Add another word or two. Uncommon words are better."),
        }
        Err(ValidationError::new(&self.field, message))
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANN: (&str, &str) = ("ann@example.com", "ann_99");
    /// Someone whose details appear in no password below.
    const STRANGER: (&str, &str) = ("someone@example.org", "someone");

    fn strength(raw: &str, (email, username): (&str, &str)) -> Result<(), ValidationError> {
        NewPassword::parse("newPassword", raw)
            .expect("the length policy allows it")
            .check_strength(
                &Email::parse(email).expect("a valid email"),
                &Username::parse(username).expect("a valid username"),
            )
    }

    #[test]
    fn passwords_follow_the_length_policy_and_never_print() {
        assert!(NewPassword::parse("password", "short").is_err());
        assert!(NewPassword::parse("password", "        ").is_err());
        assert!(NewPassword::parse("password", &"x".repeat(129)).is_err());
        let ok = NewPassword::parse("password", "correct horse").unwrap();
        assert!(!format!("{ok:?}").contains("horse"));
    }

    #[test]
    fn common_passwords_are_refused_with_the_reason_under_their_field() {
        for weak in [
            "password",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
            "aaaaaaaaaaaa",
        ] {
            let err = strength(weak, ANN).expect_err(weak);
            assert_eq!(err.field, "newPassword", "{weak}");
            assert!(err.message.starts_with("is too easy to guess."), "{err:?}");
        }
        let err = strength("password", ANN).unwrap_err();
        assert_eq!(
            err.message,
            "is too easy to guess. This is a top-10 common password. \
             Add another word or two. Uncommon words are better."
        );
    }

    #[test]
    fn passwords_made_of_the_users_own_details_are_refused_and_told_so() {
        // Strong enough for a stranger, guessable for this user.
        let mallory = ("mallory.kingsley@example.com", "mallory_k");
        assert_eq!(strength("mallory.kingsley", STRANGER), Ok(()));
        let err = strength("mallory.kingsley", mallory).unwrap_err();
        assert_eq!(
            err.message,
            "is too easy to guess. It contains your email address or username. \
             Add another word or two. Uncommon words are better."
        );
        assert!(strength("ann_99ann_99!", ANN).is_err());
    }

    #[test]
    fn passphrases_and_random_strings_are_accepted() {
        for strong in [
            "correct horse battery",
            "viewer-secret-pw",
            "Tr0ub4dor&3-staple",
            "q7#Lm2!vZx9@",
        ] {
            assert_eq!(strength(strong, ANN), Ok(()), "{strong}");
        }
    }

    #[test]
    fn the_passwords_in_the_readme_and_the_benches_pass_for_their_users() {
        for (password, user) in [
            ("correct horse battery", ("ann@example.com", "ann")),
            ("a long admin password", ("root@example.com", "admin_root")),
            // benches/feed.rs's viewer; shared/bench/peers/side-by-side.sh logs in with it.
            ("viewer-secret-pw", ("viewer@bench.example.com", "viewer")),
            ("bench-password-1", ("bench@example.com", "bench")),
        ] {
            assert_eq!(strength(password, user), Ok(()), "{password}");
        }
    }

    #[test]
    fn only_the_first_32_characters_are_examined() {
        // A guessable head is refused whatever follows it: the tail is never looked at.
        let weak_head = format!("{}{}", "a".repeat(32), "q7#Lm2!vZx9@");
        assert!(strength(&weak_head, ANN).is_err());
        // The slowest shape for the matchers (every l33t character), at the policy's 128
        // characters, is estimated on its head and accepted.
        let long: String = "4@8({[<3691!|7+$5%20".chars().cycle().take(128).collect();
        assert_eq!(strength(&long, ANN), Ok(()));
    }
}
