//! Passwords as users choose them: the length policy, checked where the input arrives, and the
//! strength estimate, checked by the accounts service once it knows whose password it is.

use zxcvbn::matching::patterns::MatchPattern;

use super::validation::ValidationError;

/// The lowest zxcvbn score accepted: 3 means about 10¹⁰ guesses, "safely unguessable" for an
/// offline attack on a slow hash (argon2 here). `password` and `12345678` score 0.
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// How many characters the estimator examines; the rest of a longer password is not looked
/// at. zxcvbn's matching grows much faster than the length: the slowest input found takes, in a
/// release build, 1 ms at 32 characters, 12 ms at 64 and 300 ms at the 128 the policy allows.
/// A password whose first 64 characters are guessable is refused even if its tail is not,
/// which costs a user little and keeps the estimate under ~12 ms.
const STRENGTH_EXAMINED_CHARS: usize = 64;

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

    /// Refuses a password that zxcvbn scores below 3, with zxcvbn's own explanation
    /// ("This is a top-10 common password. Add another word or two…") as the message.
    /// `user_inputs` are what an attacker would try first for this user (email, username):
    /// a password built from them counts as guessable.
    ///
    /// Pure but CPU-bound (up to ~12 ms, see [`STRENGTH_EXAMINED_CHARS`]): async callers run
    /// it on the blocking pool.
    pub fn check_strength(&self, user_inputs: &[&str]) -> Result<(), ValidationError> {
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

    const ANN: &[&str] = &["ann@example.com", "ann", "ann_99"];

    fn strength(raw: &str, user_inputs: &[&str]) -> Result<(), ValidationError> {
        NewPassword::parse("newPassword", raw)
            .expect("the length policy allows it")
            .check_strength(user_inputs)
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
            assert!(err.message.starts_with("is too easy to guess."), "{err}");
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
        let mallory = [
            "mallory.kingsley@example.com",
            "mallory.kingsley",
            "mallory_k",
        ];
        assert_eq!(strength("mallory.kingsley", &[]), Ok(()));
        let err = strength("mallory.kingsley", &mallory).unwrap_err();
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
    fn only_the_first_64_characters_are_examined() {
        // A guessable head is refused whatever follows it: the tail is never looked at.
        let weak_head = format!("{}{}", "a".repeat(64), "q7#Lm2!vZx9@");
        assert!(strength(&weak_head, ANN).is_err());
        // A slow shape for the matchers (an arithmetic run), at the policy's 128 characters,
        // is estimated on its head and accepted.
        let long: String = (0..128u32)
            .filter_map(|i| char::from_u32(u32::from(b'!') + i * 7 % 90))
            .collect();
        assert_eq!(strength(&long, ANN), Ok(()));
    }
}
