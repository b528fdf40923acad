//! Redaction: every text this module hands to a front end passes through
//! here, so a webhook token, signing secret or SMTP password never reaches
//! the screen, stdout or a log.

use std::fmt::Display;

use super::error::SendError;

/// Replaces secrets in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor(Vec<String>);

impl Redactor {
    /// A redactor for these secrets (longest first, as
    /// [`AlertConfig::secrets`](super::AlertConfig::secrets) gives them, so
    /// a secret containing another is replaced whole).
    pub fn new(secrets: Vec<String>) -> Self {
        Redactor(secrets)
    }

    /// The text with every secret replaced by `***`. Takes anything
    /// printable so an error can be cleaned without formatting it first.
    pub fn clean(&self, s: impl Display) -> String {
        let mut out = s.to_string();
        for sec in &self.0 {
            out = out.replace(sec.as_str(), "***");
        }
        out
    }

    /// The error with its message cleaned, keeping whether it is transient.
    pub fn error(&self, e: &SendError) -> SendError {
        e.map_message(|m| self.clean(m))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AlertConfig, Webhook, WebhookKind};
    use super::*;

    #[test]
    fn redactor_hides_url_token_and_secrets() {
        let cfg = AlertConfig {
            webhook: Some(Webhook {
                url: "https://open.feishu.cn/open-apis/bot/v2/hook/abcdef123456".into(),
                kind: WebhookKind::Feishu,
                secret: Some("s3cr3t".into()),
            }),
            ..Default::default()
        };
        let r = Redactor::new(cfg.secrets());
        let s = r.clean("error for https://open.feishu.cn/open-apis/bot/v2/hook/abcdef123456 and /open-apis/bot/v2/hook/abcdef123456 key s3cr3t");
        assert!(!s.contains("abcdef123456") && !s.contains("s3cr3t"), "{s}");
    }

    #[test]
    fn a_cleaned_error_keeps_its_kind() {
        let r = Redactor::new(vec!["tok3n-abc".into()]);
        let t = r.error(&SendError::Transient("timed out at /hook/tok3n-abc".into()));
        assert_eq!(t, SendError::Transient("timed out at /hook/***".into()));
        let p = r.error(&SendError::Permanent("HTTP 403 for tok3n-abc".into()));
        assert_eq!(p, SendError::Permanent("HTTP 403 for ***".into()));
    }
}
