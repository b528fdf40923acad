//! Posting to a webhook: the body each kind wants (built by its own
//! module), one request with a time limit, and the reply read as success,
//! a transient failure or a permanent one.

use std::time::Duration;

use serde_json::{Value, json};

use super::compose::Notification;
use super::config::{AlertConfig, Webhook, WebhookKind};
use super::error::SendError;
use super::{dingtalk, feishu, generic, slack, wecom};

/// Time limit of one webhook request.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(8);
/// Feishu's limit on a request body; stay well under it.
pub const BODY_LIMIT: usize = 18 * 1024;
/// Most of a webhook's reply that is read: a real reply is a few hundred
/// bytes, and a hostile or broken endpoint must not fill the tuner's memory.
pub const REPLY_LIMIT: usize = 64 * 1024;

/// The client every webhook is posted with: one time limit per request, no
/// redirect followed (a 3xx is a failure: following it would re-post the
/// message somewhere the user never named) and no `Referer` (it would carry
/// the secret URL).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .build()
        .expect("http client")
}

/// At most [`REPLY_LIMIT`] bytes of a reply's body, as text; the rest is
/// never read (the connection is dropped with the response).
async fn bounded_reply(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < REPLY_LIMIT {
        match resp.chunk().await {
            Ok(Some(c)) => {
                let room = REPLY_LIMIT - buf.len();
                buf.extend_from_slice(&c[..c.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn uptime_text(s: u64) -> String {
    format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
}

/// `s` cut to at most `max` bytes (on a character boundary), marked as cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... (truncated)", &s[..end])
}

/// The markdown text shared by the chat webhooks.
pub fn markdown(n: &Notification, cfg: &AlertConfig) -> String {
    let files: Vec<String> = cfg.files.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let extra = truncate(
        &serde_json::to_string_pretty(&n.extra).unwrap_or_default(),
        8 * 1024,
    );
    format!(
        "**Event**: {}\n**Time**: {}\n**Uptime**: {}\n**Repo**: {}\n**Message**: {}\n**Files**: {}\n**Details**:\n```\n{}\n```",
        n.kind,
        n.ts,
        uptime_text(n.uptime_s),
        cfg.repo,
        n.message,
        files.join(", "),
        extra
    )
}

/// Reads a DingTalk or WeCom robot reply (HTTP 200): `errcode` 0 is
/// success, `throttled` (the robot's "too many messages") is worth a retry,
/// any other code is not.
pub fn errcode_reply(parsed: &Value, throttled: i64) -> Result<(), SendError> {
    let c = parsed.get("errcode").and_then(Value::as_i64);
    if c == Some(0) {
        return Ok(());
    }
    let msg = parsed.get("errmsg").and_then(Value::as_str).unwrap_or("");
    let text = format!(
        "robot refused the message: errcode {} {msg}",
        c.map(|c| c.to_string()).unwrap_or_else(|| "missing".into())
    );
    if c == Some(throttled) {
        Err(SendError::Transient(format!("{text} (throttled)")))
    } else {
        Err(SendError::Permanent(text))
    }
}

/// A request that got no answer: no connection, no reply in time or a
/// request cut off may go through later; anything else (a redirect loop, a
/// body that cannot be sent) will not.
fn request_error(e: reqwest::Error) -> SendError {
    let transient = e.is_timeout() || e.is_connect() || e.is_request();
    let text = format!("webhook request failed: {}", e.without_url());
    if transient {
        SendError::Transient(text)
    } else {
        SendError::Permanent(text)
    }
}

/// Sends one notification to a webhook once.
pub async fn send_webhook(
    client: &reqwest::Client,
    wh: &Webhook,
    n: &Notification,
    cfg: &AlertConfig,
) -> Result<(), SendError> {
    let now = chrono::Utc::now();
    let mut url = reqwest::Url::parse(&wh.url)
        .map_err(|e| SendError::Permanent(format!("bad webhook URL: {e}")))?;
    let body = match wh.kind {
        WebhookKind::Feishu => feishu::body(n, cfg, wh.secret.as_deref(), now.timestamp()),
        WebhookKind::Generic => generic::body(n, cfg),
        WebhookKind::DingTalk => {
            if let Some(sec) = &wh.secret {
                dingtalk::sign_url(&mut url, now.timestamp_millis(), sec);
            }
            dingtalk::body(n, cfg)
        }
        WebhookKind::WeCom => wecom::body(n, cfg),
        WebhookKind::Slack => slack::body(n, cfg),
    };
    let text = serde_json::to_vec(&body).expect("json");
    if text.len() > BODY_LIMIT {
        // Drop the details rather than be refused.
        let mut small = n.clone();
        small.extra = json!("(details left out: too long)");
        return Box::pin(send_webhook(client, wh, &small, cfg)).await;
    }
    let resp = client
        .post(url)
        .header("Content-Type", "application/json")
        .timeout(WEBHOOK_TIMEOUT)
        .body(text)
        .send()
        .await
        .map_err(request_error)?;
    let code = resp.status();
    let reply = bounded_reply(resp).await;
    if code.is_redirection() {
        return Err(SendError::Permanent(format!(
            "webhook answered HTTP {} (a redirect, not followed: give the final URL)",
            code.as_u16()
        )));
    }
    if !code.is_success() {
        return Err(SendError::http(
            code.as_u16(),
            format!(
                "webhook answered HTTP {}: {}",
                code.as_u16(),
                truncate(&reply, 200)
            ),
        ));
    }
    let parsed: Value = serde_json::from_str(&reply).unwrap_or(Value::Null);
    match wh.kind {
        WebhookKind::Feishu => feishu::check_reply(&parsed),
        WebhookKind::DingTalk => dingtalk::check_reply(&parsed),
        WebhookKind::WeCom => wecom::check_reply(&parsed),
        WebhookKind::Slack | WebhookKind::Generic => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::compose::Composer;
    use super::*;

    /// A loopback endpoint answering `status` and `reply`; returns its URL
    /// and what it got.
    fn endpoint_with(
        status: u16,
        reply: &'static str,
    ) -> (String, std::sync::mpsc::Receiver<(String, Value)>) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/hook?access_token=tok",
            server.server_addr().to_ip().unwrap()
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for mut req in server.incoming_requests() {
                let mut body = String::new();
                std::io::Read::read_to_string(req.as_reader(), &mut body).unwrap();
                let _ = tx.send((
                    req.url().to_string(),
                    serde_json::from_str(&body).unwrap_or(Value::Null),
                ));
                let _ =
                    req.respond(tiny_http::Response::from_string(reply).with_status_code(status));
            }
        });
        (url, rx)
    }

    /// A loopback endpoint answering 200 and `reply`.
    fn endpoint(reply: &'static str) -> (String, std::sync::mpsc::Receiver<(String, Value)>) {
        endpoint_with(200, reply)
    }

    fn note() -> Notification {
        Composer::new(AlertConfig::default()).make(
            crate::alerts::Kind::Best,
            "new best",
            "fast",
            json!({"tps": 1}),
        )
    }

    fn hook(url: String, kind: WebhookKind) -> Webhook {
        Webhook {
            url,
            kind,
            secret: None,
        }
    }

    #[tokio::test]
    async fn dingtalk_wecom_and_slack_bodies_and_replies() {
        let client = client();
        let cfg = AlertConfig {
            repo: "/r".into(),
            ..Default::default()
        };
        // DingTalk: signature in the URL, markdown body, errcode checked.
        let (url, rx) = endpoint(r#"{"errcode":0,"errmsg":"ok"}"#);
        let wh = Webhook {
            url,
            kind: WebhookKind::DingTalk,
            secret: Some("SECxyz".into()),
        };
        send_webhook(&client, &wh, &note(), &cfg).await.unwrap();
        let (path, body) = rx.recv().unwrap();
        let q: std::collections::HashMap<String, String> =
            reqwest::Url::parse(&format!("http://x{path}"))
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect();
        let ts: i64 = q["timestamp"].parse().unwrap();
        assert_eq!(q["sign"], dingtalk::sign(ts, "SECxyz"));
        assert_eq!(q["access_token"], "tok");
        assert_eq!(body["msgtype"], "markdown");
        assert!(
            body["markdown"]["text"]
                .as_str()
                .unwrap()
                .contains("new best")
        );
        let (url, _rx) = endpoint(r#"{"errcode":310000,"errmsg":"sign not match"}"#);
        let wh = Webhook {
            url,
            kind: WebhookKind::DingTalk,
            secret: Some("x".into()),
        };
        let e = send_webhook(&client, &wh, &note(), &cfg).await.unwrap_err();
        assert!(!e.is_transient(), "a bad signature is not retried: {e}");
        let e = e.to_string();
        assert!(e.contains("310000") && e.contains("sign not match"), "{e}");
        // WeCom: markdown content, errcode checked.
        let (url, rx) = endpoint(r#"{"errcode":0,"errmsg":"ok"}"#);
        send_webhook(
            &client,
            &Webhook {
                url,
                kind: WebhookKind::WeCom,
                secret: None,
            },
            &note(),
            &cfg,
        )
        .await
        .unwrap();
        let (_, body) = rx.recv().unwrap();
        assert_eq!(body["msgtype"], "markdown");
        assert!(
            body["markdown"]["content"]
                .as_str()
                .unwrap()
                .contains("**Event**: best")
        );
        // Slack: text.
        let (url, rx) = endpoint("ok");
        send_webhook(
            &client,
            &Webhook {
                url,
                kind: WebhookKind::Slack,
                secret: None,
            },
            &note(),
            &cfg,
        )
        .await
        .unwrap();
        let (_, body) = rx.recv().unwrap();
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .starts_with("*[autotune] new best*")
        );
    }

    #[tokio::test]
    async fn long_details_are_dropped_to_stay_under_the_body_limit() {
        let client = reqwest::Client::new();
        let (url, rx) = endpoint(r#"{"code":0}"#);
        let mut n = note();
        n.extra = json!({"blob": "x".repeat(40_000)});
        let cfg = AlertConfig::default();
        send_webhook(
            &client,
            &Webhook {
                url,
                kind: WebhookKind::Generic,
                secret: None,
            },
            &n,
            &cfg,
        )
        .await
        .unwrap();
        let (_, body) = rx.recv().unwrap();
        assert!(serde_json::to_vec(&body).unwrap().len() < BODY_LIMIT);
        assert_eq!(body["extra"], "(details left out: too long)");
    }

    #[tokio::test]
    async fn http_refusals_are_classified_by_status() {
        let client = reqwest::Client::new();
        let cfg = AlertConfig::default();
        for (status, transient) in [
            (503, true),
            (500, true),
            (429, true),
            (403, false),
            (404, false),
            (400, false),
        ] {
            let (url, rx) = endpoint_with(status, "nope");
            let e = send_webhook(&client, &hook(url, WebhookKind::Generic), &note(), &cfg)
                .await
                .unwrap_err();
            assert_eq!(e.is_transient(), transient, "HTTP {status}: {e}");
            assert_eq!(
                e.to_string(),
                format!("webhook answered HTTP {status}: nope")
            );
            // The request did reach the endpoint: the status is its answer.
            rx.recv().unwrap();
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient_a_bad_url_permanent() {
        let client = reqwest::Client::new();
        let cfg = AlertConfig::default();
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/hook");
        let e = send_webhook(&client, &hook(url, WebhookKind::Generic), &note(), &cfg)
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert!(e.to_string().starts_with("webhook request failed"), "{e}");
        let e = send_webhook(
            &client,
            &hook("not a url".into(), WebhookKind::Slack),
            &note(),
            &cfg,
        )
        .await
        .unwrap_err();
        assert!(!e.is_transient(), "{e}");
        assert!(e.to_string().starts_with("bad webhook URL"), "{e}");
    }

    #[tokio::test]
    async fn feishu_throttling_over_http_is_transient_a_bad_signature_permanent() {
        let client = reqwest::Client::new();
        let cfg = AlertConfig::default();
        let (url, _rx) = endpoint(r#"{"code":11232,"msg":"frequency limited"}"#);
        let e = send_webhook(&client, &hook(url, WebhookKind::Feishu), &note(), &cfg)
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e}");
        let (url, _rx) = endpoint(r#"{"code":19021,"msg":"sign match fail"}"#);
        let e = send_webhook(&client, &hook(url, WebhookKind::Feishu), &note(), &cfg)
            .await
            .unwrap_err();
        assert!(!e.is_transient(), "{e}");
        assert!(e.to_string().contains("code 19021"), "{e}");
    }
}
