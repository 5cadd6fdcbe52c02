//! The names people type and the game keeps: slugs (campaigns, routes) and join codes.
//! Each is parsed once, where it enters, into a type that only holds a valid one.

/// A campaign's or route's slug: 2–64 lowercase ASCII letters, digits and inner hyphens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    /// What a slug must be, for an error message.
    pub const RULE: &'static str = "use 2–64 lowercase letters, digits and hyphens (not at either end)";

    /// The slug `s`; `None` when it breaks [`Self::RULE`].
    pub fn parse(s: &str) -> Option<Self> {
        let valid = (2..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        valid.then(|| Self(s.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A cohort's join code: 3–16 ASCII letters, digits or hyphens, kept in upper case, so that
/// `cs2301` typed on a phone finds `CS2301`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinCode(String);

impl JoinCode {
    /// What a join code must be, for an error message.
    pub const RULE: &'static str = "use 3–16 letters, digits or hyphens";

    /// A code as typed, made comparable with stored ones (trimmed, upper case), valid or not:
    /// for looking one up.
    pub fn normalise(raw: &str) -> String {
        raw.trim().to_uppercase()
    }

    /// The join code in `raw`, normalised; `None` when it breaks [`Self::RULE`].
    pub fn parse(raw: &str) -> Option<Self> {
        let c = Self::normalise(raw);
        let valid = (3..=16).contains(&c.len()) && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-');
        valid.then_some(Self(c))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for (raw, parsed) in [
            ("long-march", Some("long-march")),
            ("spring-2026", Some("spring-2026")),
            (" spring-2026", None),
            ("a1", Some("a1")),
            ("a", None),
            ("-walk", None),
            ("walk-", None),
            ("Walk", None),
            ("walk_2026", None),
            ("长征", None),
            ("", None),
        ] {
            assert_eq!(Slug::parse(raw).map(Slug::into_string).as_deref(), parsed, "{raw:?}");
        }
        assert!(Slug::parse(&"a".repeat(64)).is_some());
        assert!(Slug::parse(&"a".repeat(65)).is_none());
    }

    #[test]
    fn join_codes() {
        for (raw, parsed) in [
            ("CS2301", Some("CS2301")),
            (" cs-2301 ", Some("CS-2301")),
            ("ab1", Some("AB1")),
            ("ab", None),
            ("ABCDEFGHIJKLMNOPQ", None),
            ("CS 2301", None),
            ("软件2301", None),
            ("", None),
        ] {
            assert_eq!(
                JoinCode::parse(raw).map(JoinCode::into_string).as_deref(),
                parsed,
                "{raw:?}"
            );
        }
        assert_eq!(JoinCode::normalise(" demo01 "), "DEMO01");
    }
}
