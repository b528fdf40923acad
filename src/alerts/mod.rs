//! Notifications: turns engine events into notifications and delivers them
//! to a webhook (Feishu, generic, DingTalk, WeCom, Slack) and by email, on a
//! task of its own, so delivery never slows the trials. What goes wrong is
//! reported to the front end as typed [`Notice`]s, with every secret
//! (webhook URL, signing secret, SMTP password) redacted.
//!
//! [`config`] says what to send where; [`compose`] builds notifications from
//! events; [`queue`] queues, rate-limits, retries (by [`SendError`]: only
//! transient failures are retried) and runs the delivery task; one module
//! per channel kind builds its body and reads its reply; [`redact`] keeps
//! secrets out of every text.

mod compose;
mod config;
mod dingtalk;
mod email;
mod error;
mod feishu;
mod generic;
mod notice;
mod queue;
mod redact;
mod slack;
mod webhook;
mod wecom;

pub use compose::{Composer, Kind};
pub use config::{AlertConfig, Email, SmtpTls, Webhook, WebhookKind};
pub use notice::Notice;
pub use queue::{deliver, run};
pub use redact::Redactor;
pub use webhook::client as webhook_client;
