//! Email over SMTP (STARTTLS, implicit TLS or plain), with an optional
//! extra trusted CA; the whole send has one time limit.

use std::time::Duration;

use serde_json::json;

use super::compose::Notification;
use super::config::{Email, SmtpTls};
use super::error::SendError;

/// Time limit of one whole SMTP send (connect, TLS, auth, data).
const SMTP_TIMEOUT: Duration = Duration::from_secs(12);

/// An SMTP failure: a 4xx reply (the server's "try again later"), a
/// timeout, a refused or broken connection may pass later; a 5xx reply (bad
/// credentials, a refused recipient), a TLS failure (an untrusted
/// certificate), a reply lettre cannot parse or a client-side error will
/// not.
fn smtp_error(e: &lettre::transport::smtp::Error, text: String) -> SendError {
    let permanent = e.is_permanent() || e.is_tls() || e.is_response() || e.is_client();
    if e.is_transient() || e.is_timeout() || !permanent {
        SendError::Transient(text)
    } else {
        SendError::Permanent(text)
    }
}

/// Sends one notification by email once.
pub async fn send_email(em: &Email, n: &Notification) -> Result<(), SendError> {
    use lettre::message::{Mailbox, header::ContentType};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let from: Mailbox = em
        .from
        .parse()
        .map_err(|e| SendError::Permanent(format!("--smtp_from {:?}: {e}", em.from)))?;
    let mut b = Message::builder()
        .from(from)
        .subject(format!("[auto_tune] {}", n.title));
    for to in &em.to {
        b = b.to(to
            .parse()
            .map_err(|e| SendError::Permanent(format!("--smtp_to {to:?}: {e}")))?);
    }
    let body = serde_json::to_string_pretty(&json!({
        "kind": n.kind, "title": n.title, "message": n.message, "ts": n.ts, "uptime_s": n.uptime_s, "extra": n.extra
    }))
    .expect("json");
    let msg = b
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| SendError::Permanent(format!("cannot build the email: {e}")))?;
    let tls_params = || -> Result<TlsParameters, SendError> {
        let mut tb = TlsParameters::builder(em.host.clone());
        if let Some(ca) = &em.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                SendError::Permanent(format!("--smtp_ca_file {}: {e}", ca.display()))
            })?;
            tb = tb.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| {
                SendError::Permanent(format!("--smtp_ca_file {}: {e}", ca.display()))
            })?);
        }
        tb.build_rustls()
            .map_err(|e| SendError::Permanent(format!("TLS setup failed: {e}")))
    };
    let tls = match em.tls {
        SmtpTls::Plain => Tls::None,
        SmtpTls::StartTls => Tls::Required(tls_params()?),
        SmtpTls::Implicit => Tls::Wrapper(tls_params()?),
    };
    let mut tb = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(em.host.clone())
        .port(em.port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if let Some(u) = &em.user {
        tb = tb.credentials(Credentials::new(
            u.clone(),
            em.pass.clone().unwrap_or_default(),
        ));
    }
    let transport = tb.build();
    match tokio::time::timeout(SMTP_TIMEOUT, transport.send(msg)).await {
        Err(_) => Err(SendError::Transient(format!(
            "SMTP send to {}:{} timed out after {}s",
            em.host,
            em.port,
            SMTP_TIMEOUT.as_secs()
        ))),
        Ok(Err(e)) => Err(smtp_error(
            &e,
            format!("SMTP send to {}:{} failed: {e}", em.host, em.port),
        )),
        Ok(Ok(_)) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::compose::Composer;
    use super::super::config::AlertConfig;
    use super::*;

    fn email(port: u16, from: &str, to: &str) -> Email {
        Email {
            host: "127.0.0.1".into(),
            port,
            user: None,
            pass: None,
            from: from.into(),
            to: vec![to.into()],
            tls: SmtpTls::Plain,
            kinds: vec![crate::alerts::Kind::Best],
            ca_file: None,
        }
    }

    fn note() -> Notification {
        Composer::new(AlertConfig::default()).make(
            crate::alerts::Kind::Best,
            "new best",
            "fast",
            json!({}),
        )
    }

    #[tokio::test]
    async fn a_bad_address_is_permanent() {
        let e = send_email(&email(1, "not an address", "b@example.com"), &note())
            .await
            .unwrap_err();
        assert!(!e.is_transient(), "{e}");
        assert!(e.to_string().starts_with("--smtp_from"), "{e}");
        let e = send_email(&email(1, "a@example.com", "nobody"), &note())
            .await
            .unwrap_err();
        assert!(!e.is_transient(), "{e}");
        assert!(e.to_string().starts_with("--smtp_to"), "{e}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = send_email(&email(port, "a@example.com", "b@example.com"), &note())
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert!(e.to_string().starts_with("SMTP send to 127.0.0.1"), "{e}");
    }

    #[tokio::test]
    async fn smtp_replies_are_classified_by_their_code() {
        // A minimal SMTP server: greets, accepts EHLO and MAIL, then answers
        // RCPT with the code under test.
        async fn server(rcpt_reply: &'static str) -> u16 {
            use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = l.local_addr().unwrap().port();
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    let (r, mut w) = s.into_split();
                    let mut lines = BufReader::new(r).lines();
                    w.write_all(b"220 test ESMTP\r\n").await.unwrap();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line
                            .split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_ascii_uppercase();
                        let reply: &str = match verb.as_str() {
                            "EHLO" | "HELO" => "250 test\r\n",
                            "MAIL" => "250 ok\r\n",
                            "RCPT" => rcpt_reply,
                            "QUIT" => "221 bye\r\n",
                            _ => "250 ok\r\n",
                        };
                        if w.write_all(reply.as_bytes()).await.is_err() || verb == "QUIT" {
                            break;
                        }
                    }
                }
            });
            port
        }
        let port = server("451 4.3.0 try again later\r\n").await;
        let e = send_email(&email(port, "a@example.com", "b@example.com"), &note())
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert!(e.to_string().contains("451"), "{e}");
        let port = server("550 5.1.1 no such user\r\n").await;
        let e = send_email(&email(port, "a@example.com", "b@example.com"), &note())
            .await
            .unwrap_err();
        assert!(!e.is_transient(), "{e}");
        assert!(e.to_string().contains("550"), "{e}");
    }
}
