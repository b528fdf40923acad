//! DingTalk group robot: markdown, with the signature in the URL; the
//! reply's `errcode` tells success from refusal.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::compose::Notification;
use super::config::AlertConfig;
use super::error::SendError;
use super::webhook::{errcode_reply, markdown};

/// DingTalk's "send too fast, exceed 20 times per minute".
const THROTTLED: i64 = 130101;

/// DingTalk's signature: base64(HMAC-SHA256(key = secret, message =
/// `timestamp_ms + "\n" + secret`)), URL-encoded by the caller.
pub fn sign(timestamp_ms: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Adds `timestamp` and `sign` to the URL's query, as DingTalk checks them.
pub fn sign_url(url: &mut reqwest::Url, timestamp_ms: i64, secret: &str) {
    url.query_pairs_mut()
        .append_pair("timestamp", &timestamp_ms.to_string())
        .append_pair("sign", &sign(timestamp_ms, secret));
}

/// The markdown message.
pub fn body(n: &Notification, cfg: &AlertConfig) -> Value {
    json!({"msgtype": "markdown", "markdown": {"title": format!("[autotune] {}", n.title), "text": format!("### [autotune] {}\n{}", n.title, markdown(n, cfg))}})
}

/// Reads a DingTalk reply (HTTP 200); only throttling is worth a retry.
pub fn check_reply(parsed: &Value) -> Result<(), SendError> {
    errcode_reply(parsed, THROTTLED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_signature_is_keyed_by_the_secret() {
        // Computed independently: printf '1599360473000\nSECxyz' | openssl dgst -sha256 -hmac SECxyz -binary | base64
        assert_eq!(
            sign(1599360473000, "SECxyz"),
            "vv6sbUSJaOBbYOg/VuFRRyxaT87C8Yg3apWDtTHFD2A="
        );
    }

    #[test]
    fn throttling_is_transient_a_bad_signature_permanent() {
        assert_eq!(check_reply(&json!({"errcode": 0, "errmsg": "ok"})), Ok(()));
        let e = check_reply(&json!({"errcode": 130101, "errmsg": "send too fast"})).unwrap_err();
        assert!(e.is_transient(), "{e}");
        let e = check_reply(&json!({"errcode": 310000, "errmsg": "sign not match"})).unwrap_err();
        assert_eq!(
            e,
            SendError::Permanent("robot refused the message: errcode 310000 sign not match".into())
        );
    }
}
