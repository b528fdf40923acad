//! Slack incoming webhook: plain text with Slack's single-star bold; any
//! 2xx reply is success.

use serde_json::{Value, json};

use super::compose::Notification;
use super::config::AlertConfig;
use super::webhook::markdown;

/// The text message.
pub fn body(n: &Notification, cfg: &AlertConfig) -> Value {
    json!({"text": format!("*[autotune] {}*\n{}", n.title, markdown(n, cfg).replace("**", "*"))})
}
