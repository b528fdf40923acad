//! Why a send failed, typed by what the notifier should do about it: try
//! again later (transient) or give up at once (permanent), so retries never
//! depend on the wording of a message.

/// One failed send of one notification on one channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// May pass on a later attempt: a timeout, a connection error, HTTP 5xx
    /// or 429, a "too many messages" code from the service.
    #[error("{0}")]
    Transient(String),
    /// Will fail the same way again: a bad signature or secret, another 4xx,
    /// a bad address or URL, refused credentials.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }

    /// The same kind of error with its message rewritten (e.g. redacted).
    pub fn map_message(&self, f: impl FnOnce(&str) -> String) -> SendError {
        match self {
            SendError::Transient(m) => SendError::Transient(f(m)),
            SendError::Permanent(m) => SendError::Permanent(f(m)),
        }
    }

    /// A refusal by HTTP status: a server error or 429 (too many requests)
    /// may clear up; any other refusal is about the request itself.
    pub fn http(status: u16, message: String) -> SendError {
        if status >= 500 || status == 429 {
            SendError::Transient(message)
        } else {
            SendError::Permanent(message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_and_429_are_transient_other_refusals_permanent() {
        for code in [500, 502, 503, 504, 429] {
            assert!(SendError::http(code, "x".into()).is_transient(), "{code}");
        }
        for code in [400, 401, 403, 404, 413, 418] {
            assert_eq!(
                SendError::http(code, "x".into()),
                SendError::Permanent("x".into()),
                "{code}"
            );
        }
    }

    #[test]
    fn the_message_is_shown_as_is() {
        assert_eq!(
            SendError::Transient("SMTP send timed out".into()).to_string(),
            "SMTP send timed out"
        );
        assert_eq!(
            SendError::Permanent("bad URL".into()).to_string(),
            "bad URL"
        );
    }
}
