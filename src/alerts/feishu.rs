//! Feishu/Lark custom bot: an interactive card, signed when a secret is
//! configured; the reply's `code` tells success from refusal.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::compose::Notification;
use super::config::AlertConfig;
use super::error::SendError;
use super::webhook::markdown;

/// Feishu's "sign match fail or timestamp is not within one hour".
const BAD_SIGNATURE: i64 = 19021;
/// Feishu's "request frequency limited".
const THROTTLED: i64 = 11232;

/// Feishu's signature: base64(HMAC-SHA256(key = `timestamp + "\n" + secret`,
/// message = empty)).
pub fn sign(timestamp: i64, secret: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The Feishu interactive card, signed when a secret is given.
pub fn body(n: &Notification, cfg: &AlertConfig, secret: Option<&str>, now_s: i64) -> Value {
    let template = match n.kind.as_str() {
        "crashed" | "failed" | "timeout" => "red",
        "abnormal" => "orange",
        "best" | "done" => "green",
        _ => "blue",
    };
    let mut body = json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true},
            "header": {"title": {"tag": "plain_text", "content": format!("[autotune] {}", n.title)}, "template": template},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": markdown(n, cfg)}}]
        }
    });
    if let Some(sec) = secret {
        body["timestamp"] = json!(now_s.to_string());
        body["sign"] = json!(sign(now_s, sec));
    }
    body
}

/// Reads a Feishu reply (HTTP 200): `code` 0 is success; throttling is worth
/// a retry, any other code (a bad signature first of all) is not.
pub fn check_reply(parsed: &Value) -> Result<(), SendError> {
    let c = parsed
        .get("code")
        .or_else(|| parsed.get("StatusCode"))
        .and_then(Value::as_i64);
    if c == Some(0) {
        return Ok(());
    }
    let msg = parsed
        .get("msg")
        .or_else(|| parsed.get("StatusMessage"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let hint = match c {
        Some(BAD_SIGNATURE) => " (bad signature, or the clock is off by more than an hour)",
        Some(THROTTLED) => " (throttled)",
        _ => "",
    };
    let text = format!(
        "Feishu refused the message: code {} {msg}{hint}",
        c.map(|c| c.to_string()).unwrap_or_else(|| "missing".into())
    );
    if c == Some(THROTTLED) {
        Err(SendError::Transient(text))
    } else {
        Err(SendError::Permanent(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feishu_signature_matches_the_documented_vector() {
        assert_eq!(
            sign(1599360473, "demo"),
            "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
        );
    }

    #[test]
    fn throttling_is_transient_a_bad_signature_permanent() {
        assert_eq!(check_reply(&json!({"code": 0, "msg": "success"})), Ok(()));
        assert_eq!(check_reply(&json!({"StatusCode": 0})), Ok(()));
        let e = check_reply(&json!({"code": 11232, "msg": "frequency limited"})).unwrap_err();
        assert!(e.is_transient(), "{e}");
        let e = check_reply(&json!({"code": 19021, "msg": "sign match fail"})).unwrap_err();
        assert_eq!(
            e,
            SendError::Permanent(
                "Feishu refused the message: code 19021 sign match fail (bad signature, or the clock is off by more than an hour)".into()
            )
        );
        let e = check_reply(&Value::Null).unwrap_err();
        assert_eq!(
            e,
            SendError::Permanent("Feishu refused the message: code missing ".into())
        );
    }
}
