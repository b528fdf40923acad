//! What the notifier is told to do: the channels (webhook, email), what
//! they carry, and the secrets that must never appear in a message.

use std::path::PathBuf;
use std::time::Duration;

/// Which webhook flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    /// Feishu/Lark custom bot: interactive card, optional signature.
    Feishu,
    /// `{kind, title, message, ts, repo, extra}`.
    Generic,
    /// DingTalk group robot: markdown, signature in the URL.
    DingTalk,
    /// WeCom group robot: markdown.
    WeCom,
    /// Slack incoming webhook: text.
    Slack,
}

impl WebhookKind {
    /// Parses `--webhook_kind`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "feishu" | "lark" => Ok(Self::Feishu),
            "generic" => Ok(Self::Generic),
            "dingtalk" => Ok(Self::DingTalk),
            "wecom" | "wechat" | "weixin" => Ok(Self::WeCom),
            "slack" => Ok(Self::Slack),
            other => Err(format!(
                "--webhook_kind: unknown kind {other:?} (feishu, generic, dingtalk, wecom, slack)"
            )),
        }
    }
}

/// A configured webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The URL (a secret: it carries the bot token).
    pub url: String,
    /// Flavour.
    pub kind: WebhookKind,
    /// Signing secret (Feishu, DingTalk).
    pub secret: Option<String>,
}

/// How to talk to the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS (default).
    StartTls,
    /// Implicit TLS (`--smtp_ssl`).
    Implicit,
    /// Plain (`--smtp_no_starttls`).
    Plain,
}

/// A configured email channel.
#[derive(Debug, Clone)]
pub struct Email {
    /// Server.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Login user, if any.
    pub user: Option<String>,
    /// Password (a secret).
    pub pass: Option<String>,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Transport security.
    pub tls: SmtpTls,
    /// Kinds sent by email.
    pub kinds: Vec<super::compose::Kind>,
    /// Extra trusted root certificates (PEM), e.g. an internal CA.
    pub ca_file: Option<PathBuf>,
}

/// Everything the notifier needs.
#[derive(Debug, Clone, Default)]
pub struct AlertConfig {
    /// The run's goal when it is not today's (max total_tps with an
    /// accuracy bar): notifications then give its figures by name.
    pub goal: Option<autotune::Goal>,
    /// Webhook, if configured.
    pub webhook: Option<Webhook>,
    /// Email, if configured.
    pub email: Option<Email>,
    /// Heartbeat every N trials run (0: off).
    pub heartbeat_trials: u32,
    /// Heartbeat every interval.
    pub heartbeat_interval: Option<Duration>,
    /// Notify trial_done.
    pub notify_trial_done: bool,
    /// ... every N trials.
    pub notify_trial_done_every: u32,
    /// The repo, for messages.
    pub repo: String,
    /// File names shown in messages.
    pub files: Vec<(String, String)>,
}

impl AlertConfig {
    /// Whether any channel is configured.
    pub fn any(&self) -> bool {
        self.webhook.is_some() || self.email.is_some()
    }

    /// Every secret to keep out of messages.
    pub fn secrets(&self) -> Vec<String> {
        let mut s = Vec::new();
        if let Some(w) = &self.webhook {
            s.push(w.url.clone());
            // The token part alone, in case a library prints a path.
            if let Some(idx) = w.url.find("://").map(|i| i + 3)
                && let Some(p) = w.url[idx..].find('/')
            {
                let tail = &w.url[idx + p..];
                if tail.len() > 8 {
                    s.push(tail.to_string());
                }
            }
            if let Some(sec) = &w.secret {
                s.push(sec.clone());
            }
        }
        if let Some(e) = &self.email
            && let Some(p) = &e.pass
        {
            s.push(p.clone());
        }
        s.retain(|x| x.len() >= 4);
        s.sort_by_key(|x| std::cmp::Reverse(x.len()));
        s
    }
}
