//! Generic webhook: the notification as JSON for any receiver; any 2xx
//! reply is success.

use serde_json::{Value, json};

use super::compose::Notification;
use super::config::AlertConfig;

/// The body: `{kind, title, message, ts, repo, extra}`.
pub fn body(n: &Notification, cfg: &AlertConfig) -> Value {
    json!({"kind": n.kind, "title": n.title, "message": n.message, "ts": n.ts, "repo": cfg.repo, "extra": n.extra})
}
