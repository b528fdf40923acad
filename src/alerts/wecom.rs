//! WeCom group robot: markdown (WeCom caps it at 4096 bytes); the reply's
//! `errcode` tells success from refusal.

use serde_json::{Value, json};

use super::compose::Notification;
use super::config::AlertConfig;
use super::error::SendError;
use super::webhook::{errcode_reply, markdown, truncate};

/// WeCom's "api freq out of limit".
const THROTTLED: i64 = 45009;

/// The markdown message, cut to stay under WeCom's limit.
pub fn body(n: &Notification, cfg: &AlertConfig) -> Value {
    json!({"msgtype": "markdown", "markdown": {"content": format!("### [autotune] {}\n{}", n.title, truncate(&markdown(n, cfg), 3800))}})
}

/// Reads a WeCom reply (HTTP 200); only throttling is worth a retry.
pub fn check_reply(parsed: &Value) -> Result<(), SendError> {
    errcode_reply(parsed, THROTTLED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_transient_a_bad_key_permanent() {
        assert_eq!(check_reply(&json!({"errcode": 0, "errmsg": "ok"})), Ok(()));
        let e =
            check_reply(&json!({"errcode": 45009, "errmsg": "api freq out of limit"})).unwrap_err();
        assert!(e.is_transient(), "{e}");
        let e =
            check_reply(&json!({"errcode": 93000, "errmsg": "invalid webhook url"})).unwrap_err();
        assert!(!e.is_transient(), "{e}");
        // Not JSON at all: refused, and retrying will not change that.
        assert_eq!(
            check_reply(&Value::Null),
            Err(SendError::Permanent(
                "robot refused the message: errcode missing ".into()
            ))
        );
    }
}
