//! Keeps API keys out of error messages built from a provider's answer.
//!
//! The request's headers never reach an error message, but providers quote keys back: OpenAI's
//! 401 says "Incorrect API key provided: sk-abc*****wxyz", the start and end of the real key.
//! Error bodies are therefore scrubbed of key-like words before they become messages, and cut
//! to a length that reads well in a step failure.

/// The longest provider message kept in an error, in characters.
pub(crate) const MESSAGE_CHARS_MAX: usize = 500;

/// Prefixes of API keys and bearer tokens: OpenAI and Anthropic (`sk-`, `sk-ant-`,
/// `sk-proj-`), OpenRouter (`sk-or-`), and the `Bearer` scheme some servers quote.
const KEY_PREFIXES: [&str; 2] = ["sk-", "Bearer "];

const REDACTED: &str = "[redacted]";

/// `text` with every key-like word replaced and cut to [`MESSAGE_CHARS_MAX`] characters.
pub(crate) fn scrub(text: &str) -> String {
    let mut scrubbed = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((start, prefix)) = find_key(rest) {
        scrubbed.push_str(&rest[..start]);
        scrubbed.push_str(REDACTED);
        let after_prefix = &rest[start + prefix.len()..];
        let key_len = after_prefix
            .find(|c: char| !is_key_char(c))
            .unwrap_or(after_prefix.len());
        rest = &after_prefix[key_len..];
    }
    scrubbed.push_str(rest);
    truncate(scrubbed.trim())
}

/// The first key prefix in `text` that starts a word, with its position.
fn find_key(text: &str) -> Option<(usize, &'static str)> {
    KEY_PREFIXES
        .iter()
        .filter_map(|prefix| {
            text.match_indices(prefix)
                .find(|(start, _)| starts_word(text, *start))
                .map(|(start, _)| (start, *prefix))
        })
        .min_by_key(|(start, _)| *start)
}

fn starts_word(text: &str, start: usize) -> bool {
    text[..start]
        .chars()
        .next_back()
        .is_none_or(|before| !(before.is_ascii_alphanumeric() || matches!(before, '-' | '_')))
}

/// Characters of keys as providers write them, masked ones (`*`) included.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '.' | '~' | '+' | '/' | '=')
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_CHARS_MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_like_words_are_replaced() {
        let cases = [
            (
                "Incorrect API key provided: sk-proj-abc*****wxyz. You can find your key.",
                "Incorrect API key provided: [redacted] You can find your key.",
            ),
            (
                "invalid x-api-key sk-ant-api03-AbC_dEf",
                "invalid x-api-key [redacted]",
            ),
            (
                "header was Bearer abc.def-ghi, refused",
                "header was [redacted], refused",
            ),
            (
                "task-sk-1 stays: not a word start",
                "task-sk-1 stays: not a word start",
            ),
            ("key=sk-abc;", "key=[redacted];"),
            ("model not found", "model not found"),
        ];
        for (text, expected) in cases {
            assert_eq!(scrub(text), expected, "{text}");
        }
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "é".repeat(MESSAGE_CHARS_MAX + 10);
        let cut = scrub(&long);
        assert_eq!(cut.chars().count(), MESSAGE_CHARS_MAX + 3);
        assert!(cut.ends_with("..."));
    }
}
