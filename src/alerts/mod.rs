//! Notifications: turns engine events into notifications (start, heartbeat,
//! trial_done, best, failed/timeout/crashed, abnormal, done) and delivers
//! them to a webhook (Feishu, generic, DingTalk, WeCom, Slack) and by email,
//! on a task of its own with a bounded queue, a timeout per send, retries
//! with backoff, and rate limits, so delivery never slows the trials.
//! Secrets (webhook URL, signing secret, SMTP password) are redacted from
//! every message this module produces.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::{Notify, mpsc};

use autotune::{Event, Outcome, Record, Status};

/// Kinds that are never dropped when the queue is full.
const CRITICAL: &[&str] = &["best", "crashed", "done"];
/// Queue capacity before dropping.
const QUEUE_CAP: usize = 32;
/// Time limit of one webhook request.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(8);
/// Time limit of one whole SMTP send (connect, TLS, auth, data).
const SMTP_TIMEOUT: Duration = Duration::from_secs(12);
/// Feishu's limit on a request body; stay well under it.
const BODY_LIMIT: usize = 18 * 1024;

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
    pub kinds: Vec<String>,
    /// Extra trusted root certificates (PEM), e.g. an internal CA.
    pub ca_file: Option<PathBuf>,
}

/// Everything the notifier needs.
#[derive(Debug, Clone, Default)]
pub struct AlertConfig {
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

/// Replaces secrets in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor(Vec<String>);

impl Redactor {
    /// A redactor for these secrets.
    pub fn new(secrets: Vec<String>) -> Self {
        Redactor(secrets)
    }

    /// The text with every secret replaced by `***`.
    pub fn clean(&self, s: &str) -> String {
        let mut out = s.to_string();
        for sec in &self.0 {
            out = out.replace(sec.as_str(), "***");
        }
        out
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Kind (start, heartbeat, ...).
    pub kind: String,
    /// Title.
    pub title: String,
    /// Message.
    pub message: String,
    /// Local time.
    pub ts: String,
    /// Seconds since the tuner started.
    pub uptime_s: u64,
    /// Details.
    pub extra: Value,
}

/// Feishu's signature: base64(HMAC-SHA256(key = `timestamp + "\n" + secret`,
/// message = empty)).
pub fn feishu_sign(timestamp: i64, secret: &str) -> String {
    let key = format!("{timestamp}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// DingTalk's signature: base64(HMAC-SHA256(key = secret, message =
/// `timestamp_ms + "\n" + secret`)), URL-encoded by the caller.
pub fn dingtalk_sign(timestamp_ms: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn uptime_text(s: u64) -> String {
    format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
}

fn truncate(s: &str, max: usize) -> String {
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

/// The Feishu interactive card, signed when a secret is given.
pub fn feishu_body(n: &Notification, cfg: &AlertConfig, secret: Option<&str>, now_s: i64) -> Value {
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
        body["sign"] = json!(feishu_sign(now_s, sec));
    }
    body
}

/// The generic webhook body.
pub fn generic_body(n: &Notification, cfg: &AlertConfig) -> Value {
    json!({"kind": n.kind, "title": n.title, "message": n.message, "ts": n.ts, "repo": cfg.repo, "extra": n.extra})
}

/// Sends one notification to a webhook once. `Err((message, transient))`.
pub async fn send_webhook(
    client: &reqwest::Client,
    wh: &Webhook,
    n: &Notification,
    cfg: &AlertConfig,
) -> Result<(), (String, bool)> {
    let now = chrono::Utc::now();
    let mut url =
        reqwest::Url::parse(&wh.url).map_err(|e| (format!("bad webhook URL: {e}"), false))?;
    let body = match wh.kind {
        WebhookKind::Feishu => feishu_body(n, cfg, wh.secret.as_deref(), now.timestamp()),
        WebhookKind::Generic => generic_body(n, cfg),
        WebhookKind::DingTalk => {
            if let Some(sec) = &wh.secret {
                let ms = now.timestamp_millis();
                url.query_pairs_mut()
                    .append_pair("timestamp", &ms.to_string())
                    .append_pair("sign", &dingtalk_sign(ms, sec));
            }
            json!({"msgtype": "markdown", "markdown": {"title": format!("[autotune] {}", n.title), "text": format!("### [autotune] {}\n{}", n.title, markdown(n, cfg))}})
        }
        WebhookKind::WeCom => {
            json!({"msgtype": "markdown", "markdown": {"content": format!("### [autotune] {}\n{}", n.title, truncate(&markdown(n, cfg), 3800))}})
        }
        WebhookKind::Slack => {
            json!({"text": format!("*[autotune] {}*\n{}", n.title, markdown(n, cfg).replace("**", "*"))})
        }
    };
    let mut text = serde_json::to_vec(&body).expect("json");
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
        .body(std::mem::take(&mut text))
        .send()
        .await
        .map_err(|e| {
            let transient = e.is_timeout() || e.is_connect() || e.is_request();
            (
                format!("webhook request failed: {}", e.without_url()),
                transient,
            )
        })?;
    let code = resp.status();
    let reply = resp.text().await.unwrap_or_default();
    if !code.is_success() {
        return Err((
            format!(
                "webhook answered HTTP {}: {}",
                code.as_u16(),
                truncate(&reply, 200)
            ),
            code.is_server_error() || code.as_u16() == 429,
        ));
    }
    let parsed: Value = serde_json::from_str(&reply).unwrap_or(Value::Null);
    match wh.kind {
        WebhookKind::Feishu => {
            let c = parsed
                .get("code")
                .or_else(|| parsed.get("StatusCode"))
                .and_then(Value::as_i64);
            if c == Some(0) {
                Ok(())
            } else {
                let msg = parsed
                    .get("msg")
                    .or_else(|| parsed.get("StatusMessage"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let hint = match c {
                    Some(19021) => " (bad signature, or the clock is off by more than an hour)",
                    Some(11232) => " (throttled)",
                    _ => "",
                };
                Err((
                    format!(
                        "Feishu refused the message: code {} {msg}{hint}",
                        c.map(|c| c.to_string()).unwrap_or_else(|| "missing".into())
                    ),
                    c == Some(11232),
                ))
            }
        }
        WebhookKind::DingTalk | WebhookKind::WeCom => {
            let c = parsed.get("errcode").and_then(Value::as_i64);
            if c == Some(0) {
                Ok(())
            } else {
                let msg = parsed.get("errmsg").and_then(Value::as_str).unwrap_or("");
                Err((
                    format!(
                        "robot refused the message: errcode {} {msg}",
                        c.map(|c| c.to_string()).unwrap_or_else(|| "missing".into())
                    ),
                    false,
                ))
            }
        }
        WebhookKind::Slack | WebhookKind::Generic => Ok(()),
    }
}

/// Sends one notification by email once.
pub async fn send_email(em: &Email, n: &Notification) -> Result<(), (String, bool)> {
    use lettre::message::{Mailbox, header::ContentType};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let from: Mailbox = em
        .from
        .parse()
        .map_err(|e| (format!("--smtp_from {:?}: {e}", em.from), false))?;
    let mut b = Message::builder()
        .from(from)
        .subject(format!("[auto_tune] {}", n.title));
    for to in &em.to {
        b = b.to(to
            .parse()
            .map_err(|e| (format!("--smtp_to {to:?}: {e}"), false))?);
    }
    let body = serde_json::to_string_pretty(&json!({
        "kind": n.kind, "title": n.title, "message": n.message, "ts": n.ts, "uptime_s": n.uptime_s, "extra": n.extra
    }))
    .expect("json");
    let msg = b
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| (format!("cannot build the email: {e}"), false))?;
    let tls_params = || -> Result<TlsParameters, (String, bool)> {
        let mut tb = TlsParameters::builder(em.host.clone());
        if let Some(ca) = &em.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| (format!("--smtp_ca_file {}: {e}", ca.display()), false))?;
            tb = tb.add_root_certificate(
                Certificate::from_pem(&pem)
                    .map_err(|e| (format!("--smtp_ca_file {}: {e}", ca.display()), false))?,
            );
        }
        tb.build_rustls()
            .map_err(|e| (format!("TLS setup failed: {e}"), false))
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
        Err(_) => Err((
            format!(
                "SMTP send to {}:{} timed out after {}s",
                em.host,
                em.port,
                SMTP_TIMEOUT.as_secs()
            ),
            true,
        )),
        Ok(Err(e)) => Err((
            format!("SMTP send to {}:{} failed: {e}", em.host, em.port),
            e.is_transient() || e.is_timeout(),
        )),
        Ok(Ok(_)) => Ok(()),
    }
}

/// The queue between event handling and delivery: bounded, dropping
/// heartbeats first and never `best`, `crashed` or `done`.
#[derive(Default)]
pub struct Queue {
    items: Mutex<VecDeque<Notification>>,
    ready: Notify,
}

impl Queue {
    /// Adds a notification; returns what was dropped to make room, if anything.
    pub fn push(&self, n: Notification) -> Option<Notification> {
        let mut q = self.items.lock().expect("queue lock");
        let mut dropped = None;
        if q.len() >= QUEUE_CAP {
            if n.kind == "heartbeat" {
                return Some(n);
            }
            let victim = q
                .iter()
                .position(|x| x.kind == "heartbeat")
                .or_else(|| q.iter().position(|x| !CRITICAL.contains(&x.kind.as_str())));
            match victim {
                Some(i) => dropped = q.remove(i),
                None if !CRITICAL.contains(&n.kind.as_str()) => return Some(n),
                None => {}
            }
        }
        q.push_back(n);
        drop(q);
        self.ready.notify_one();
        dropped
    }

    fn pop(&self) -> Option<Notification> {
        self.items.lock().expect("queue lock").pop_front()
    }

    fn len(&self) -> usize {
        self.items.lock().expect("queue lock").len()
    }
}

/// Delivers to every channel that takes this kind; returns per channel
/// `(name, result)`. `retrying` hears of each failed attempt that will be
/// retried, so a slow failure is known before the retries run out.
pub async fn deliver(
    client: &reqwest::Client,
    cfg: &AlertConfig,
    n: &Notification,
    limit: Option<&RateLimitHandle>,
    retrying: &mut (dyn FnMut(&str, &str) + Send),
) -> Vec<(&'static str, Result<(), String>)> {
    let mut out = Vec::new();
    if let Some(wh) = &cfg.webhook {
        let r = with_retries(
            3,
            Duration::from_millis(500),
            |m| retrying("webhook", m),
            || async {
                if let Some(l) = limit {
                    l.wait().await;
                }
                send_webhook(client, wh, n, cfg).await
            },
        )
        .await;
        out.push(("webhook", r));
    }
    if let Some(em) = &cfg.email
        && em.kinds.iter().any(|k| k == &n.kind)
    {
        let r = with_retries(
            2,
            Duration::from_secs(1),
            |m| retrying("email", m),
            || send_email(em, n),
        )
        .await;
        out.push(("email", r));
    }
    out
}

/// Runs `send` up to `attempts` times while it fails with a transient error
/// (`Err((message, true))`), waiting `first_delay`, then twice as long, in
/// between; `retrying` hears of each failure that will be retried.
async fn with_retries<F, Fut>(
    attempts: u32,
    first_delay: Duration,
    mut retrying: impl FnMut(&str),
    mut send: F,
) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), (String, bool)>>,
{
    let mut delay = first_delay;
    for attempt in 1..=attempts {
        match send().await {
            Ok(()) => return Ok(()),
            Err((m, transient)) if transient && attempt < attempts => {
                retrying(&m);
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err((m, _)) => return Err(m),
        }
    }
    Err("no attempt made".into())
}

/// A sliding-window rate limit for the webhook (Feishu allows 5 messages a
/// second and 100 a minute per bot).
#[derive(Default)]
pub struct RateLimitHandle {
    sent: Mutex<VecDeque<Instant>>,
}

impl RateLimitHandle {
    /// Waits until one more message fits in both windows, and counts it.
    async fn wait(&self) {
        loop {
            {
                let mut sent = self.sent.lock().expect("rate limit lock");
                let now = Instant::now();
                while sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
                {
                    sent.pop_front();
                }
                let last_second = sent
                    .iter()
                    .filter(|t| now.duration_since(**t) < Duration::from_secs(1))
                    .count();
                if sent.len() < 100 && last_second < 5 {
                    sent.push_back(now);
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Turns events into notifications.
pub struct Composer {
    cfg: AlertConfig,
    started: Instant,
    trials_run: u32,
    counts: std::collections::BTreeMap<String, u32>,
    best: Option<Arc<Record>>,
    current: String,
}

impl Composer {
    /// A composer.
    pub fn new(cfg: AlertConfig) -> Self {
        Composer {
            cfg,
            started: Instant::now(),
            trials_run: 0,
            counts: Default::default(),
            best: None,
            current: String::new(),
        }
    }

    /// A notification of `kind`.
    pub fn make(
        &self,
        kind: &str,
        title: impl Into<String>,
        message: impl Into<String>,
        extra: Value,
    ) -> Notification {
        Notification {
            kind: kind.to_string(),
            title: title.into(),
            message: message.into(),
            ts: autotune::now_ts(),
            uptime_s: self.started.elapsed().as_secs(),
            extra,
        }
    }

    /// A heartbeat with the current counts and best.
    pub fn heartbeat(&self) -> Notification {
        let best = self.best.as_ref().map(|b| json!({"avg_total_tps": b.avg_total_tps(), "avg_accuracy": b.avg_accuracy(), "params": b.params}));
        self.make(
            "heartbeat",
            "heartbeat",
            format!(
                "{} trials run; now: {}",
                self.trials_run,
                if self.current.is_empty() {
                    "between trials"
                } else {
                    &self.current
                }
            ),
            json!({"counts": self.counts, "best": best}),
        )
    }

    fn record_extra(r: &Record) -> Value {
        json!({
            "status": r.status, "param": r.param_under_test, "value": r.value_under_test(),
            "avg_accuracy": r.avg_accuracy(), "avg_total_tps": r.avg_total_tps(),
            "exit_code": r.exit_code, "reason": r.reason, "server_log": r.server_log,
            "log_tail": r.extra.get("log_tail"),
        })
    }

    /// The notifications an event causes.
    pub fn on_event(&mut self, e: &Event) -> Vec<Notification> {
        let mut out = Vec::new();
        match e {
            Event::RunStarted { total_estimate, existing_records, best_seen_tps, .. } => out.push(self.make(
                "start",
                "tuning started",
                format!("{total_estimate} trials planned; {existing_records} records already in the results"),
                json!({"best_seen_tps": best_seen_tps}),
            )),
            Event::TrialStarted { param, value, index, .. } => self.current = format!("trial {index}: {param}={value}"),
            Event::TrialFinished { record, .. } => {
                self.current.clear();
                *self.counts.entry(record.status.to_string()).or_default() += 1;
                if record.status == Status::Skipped {
                    return out;
                }
                self.trials_run += 1;
                let what = format!("{}={}", record.param_under_test.as_deref().unwrap_or("?"), record.value_under_test().unwrap_or("?"));
                let extra = Self::record_extra(record);
                let startup = record.eval.is_none();
                match &record.status {
                    s @ (Status::Failed | Status::Timeout | Status::Crashed) if startup => {
                        let why = record.reason.clone().or_else(|| record.health.clone()).unwrap_or_default();
                        out.push(self.make(s.as_str(), format!("trial {s}: {what}"), why, extra.clone()));
                    }
                    Status::Failed | Status::Partial => {
                        let ok = record.eval.as_ref().and_then(|s| s.eval_ok_n).unwrap_or(0);
                        let n = record.eval.as_ref().and_then(|s| s.eval_runs.as_ref()).map(Vec::len).unwrap_or(0);
                        out.push(self.make("abnormal", format!("eval {}: {what}", record.status), format!("{ok}/{n} eval runs ok"), extra.clone()));
                    }
                    _ => {}
                }
                if self.cfg.notify_trial_done && self.trials_run.is_multiple_of(self.cfg.notify_trial_done_every.max(1)) {
                    out.push(self.make("trial_done", format!("trial done: {what}"), record.summary_text(), extra));
                }
                if self.cfg.heartbeat_trials > 0 && self.trials_run.is_multiple_of(self.cfg.heartbeat_trials) {
                    out.push(self.heartbeat());
                }
            }
            Event::NewBest { record, previous_tps } => {
                self.best = Some(record.clone());
                out.push(self.make(
                    "best",
                    format!("new best: {:.1} tok/s", record.avg_total_tps().unwrap_or(0.0)),
                    format!(
                        "{}={} reached {:.1} tok/s at accuracy {:.4} (previous best {})",
                        record.param_under_test.as_deref().unwrap_or("?"),
                        record.value_under_test().unwrap_or("?"),
                        record.avg_total_tps().unwrap_or(0.0),
                        record.avg_accuracy().unwrap_or(0.0),
                        previous_tps.map(|p| format!("{p:.1} tok/s")).unwrap_or_else(|| "none".into())
                    ),
                    json!({"params": record.params, "previous_tps": previous_tps}),
                ));
            }
            Event::RunFinished { outcome, best, .. } => {
                let (kind, title) = match outcome {
                    Outcome::Done => ("done", "tuning done".to_string()),
                    Outcome::Aborted => ("done", "tuning aborted".to_string()),
                    Outcome::Interrupted(s) => ("done", format!("tuning stopped by signal {s}")),
                    Outcome::Error(m) => ("crashed", format!("tuning stopped on an error: {m}")),
                    Outcome::Environment(m) => ("crashed", format!("tuning stopped by the environment: {m}")),
                };
                out.push(self.make(kind, title, format!("{} trials run", self.trials_run), json!({"best_params": best, "counts": self.counts})));
            }
            _ => {}
        }
        out
    }
}

/// Runs the notifier: consumes events, sends heartbeats on a timer, and
/// delivers on a task of its own. Failures go to `notices` (once per
/// distinct message). Returns when the events end and the queue is
/// drained (or `drain_limit` passed).
pub async fn run(
    cfg: AlertConfig,
    mut events: mpsc::UnboundedReceiver<Arc<Event>>,
    notices: mpsc::UnboundedSender<String>,
    drain_limit: Duration,
) {
    let redact = Redactor::new(cfg.secrets());
    let queue = Arc::new(Queue::default());
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let deliverer = {
        let (cfg, queue, done, notices, redact) = (
            cfg.clone(),
            queue.clone(),
            done.clone(),
            notices.clone(),
            redact.clone(),
        );
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(WEBHOOK_TIMEOUT)
                .build()
                .expect("http client");
            let limit = RateLimitHandle::default();
            let mut reported: std::collections::HashSet<String> = Default::default();
            loop {
                let Some(n) = queue.pop() else {
                    if done.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    let _ =
                        tokio::time::timeout(Duration::from_millis(200), queue.ready.notified())
                            .await;
                    continue;
                };
                let mut report = |m: String| {
                    let m = redact.clean(&m);
                    if reported.insert(m.clone()) {
                        let _ = notices.send(m);
                    }
                };
                let kind = n.kind.clone();
                let results = deliver(&client, &cfg, &n, Some(&limit), &mut |ch, m| {
                    report(format!("{ch} notification ({kind}) failed: {m}; retrying"))
                })
                .await;
                for (ch, r) in results {
                    if let Err(m) = r {
                        report(format!("{ch} notification ({}) failed: {m}", n.kind));
                    }
                }
            }
        })
    };
    let mut composer = Composer::new(cfg.clone());
    let mut ticker = cfg.heartbeat_interval.map(|d| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let tick = async {
            match ticker.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            e = events.recv() => match e {
                Some(e) => {
                    for n in composer.on_event(&e) {
                        if let Some(d) = queue.push(n) {
                            let _ = notices.send(format!("notification queue full: dropped a {} notification", d.kind));
                        }
                    }
                }
                None => break,
            },
            _ = tick => { queue.push(composer.heartbeat()); }
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut deliverer = deliverer;
    if tokio::time::timeout(drain_limit, &mut deliverer)
        .await
        .is_err()
    {
        deliverer.abort();
        let _ = notices.send(format!(
            "{} notification(s) not delivered before exit",
            queue.len() + 1
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feishu_signature_matches_the_documented_vector() {
        assert_eq!(
            feishu_sign(1599360473, "demo"),
            "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
        );
    }

    #[test]
    fn dingtalk_signature_is_keyed_by_the_secret() {
        // Computed independently: printf '1599360473000\nSECxyz' | openssl dgst -sha256 -hmac SECxyz -binary | base64
        assert_eq!(
            dingtalk_sign(1599360473000, "SECxyz"),
            "vv6sbUSJaOBbYOg/VuFRRyxaT87C8Yg3apWDtTHFD2A="
        );
    }

    /// A loopback endpoint answering `reply`; returns its URL and what it got.
    fn endpoint(reply: &'static str) -> (String, std::sync::mpsc::Receiver<(String, Value)>) {
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
                let _ = req.respond(tiny_http::Response::from_string(reply));
            }
        });
        (url, rx)
    }

    fn note() -> Notification {
        Composer::new(AlertConfig::default()).make("best", "new best", "fast", json!({"tps": 1}))
    }

    #[tokio::test]
    async fn dingtalk_wecom_and_slack_bodies_and_replies() {
        let client = reqwest::Client::new();
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
        assert_eq!(q["sign"], dingtalk_sign(ts, "SECxyz"));
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
        let e = send_webhook(&client, &wh, &note(), &cfg)
            .await
            .unwrap_err()
            .0;
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
    async fn the_rate_limit_allows_five_a_second() {
        let l = RateLimitHandle::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            l.wait().await;
        }
        let five = t0.elapsed();
        l.wait().await;
        // The sixth waits for the first to leave the one-second window.
        assert!(five < Duration::from_millis(500), "{five:?}");
        assert!(
            t0.elapsed() >= Duration::from_millis(1000),
            "{:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn queue_drops_heartbeats_first_and_never_critical() {
        let c = Composer::new(AlertConfig::default());
        let q = Queue::default();
        q.push(c.make("heartbeat", "h", "", Value::Null));
        for _ in 1..QUEUE_CAP {
            q.push(c.make("abnormal", "a", "", Value::Null));
        }
        assert_eq!(q.len(), QUEUE_CAP);
        // Full: a heartbeat is refused, a best evicts the queued heartbeat.
        assert_eq!(
            q.push(c.make("heartbeat", "h", "", Value::Null))
                .unwrap()
                .kind,
            "heartbeat"
        );
        assert_eq!(
            q.push(c.make("best", "b", "", Value::Null)).unwrap().kind,
            "heartbeat"
        );
        // Then a crashed evicts an abnormal.
        assert_eq!(
            q.push(c.make("crashed", "c", "", Value::Null))
                .unwrap()
                .kind,
            "abnormal"
        );
        // Only critical left: still accepted.
        for _ in 0..QUEUE_CAP {
            q.push(c.make("done", "d", "", Value::Null));
        }
        assert!(
            q.items
                .lock()
                .unwrap()
                .iter()
                .filter(|n| CRITICAL.contains(&n.kind.as_str()))
                .count()
                >= QUEUE_CAP + 2
        );
    }

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
    fn startup_failures_and_abnormal_evals_have_their_kinds() {
        let mut c = Composer::new(AlertConfig {
            heartbeat_trials: 2,
            ..Default::default()
        });
        let crashed = Record {
            status: "crashed".into(),
            phase: "startup".into(),
            ..Default::default()
        };
        let kinds = |v: Vec<Notification>| v.into_iter().map(|n| n.kind).collect::<Vec<_>>();
        assert_eq!(
            kinds(c.on_event(&Event::TrialFinished {
                ordinal: 1,
                record: Arc::new(crashed)
            })),
            ["crashed"]
        );
        let partial = Record {
            status: "partial".into(),
            eval: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(
            kinds(c.on_event(&Event::TrialFinished {
                ordinal: 2,
                record: Arc::new(partial)
            })),
            ["abnormal", "heartbeat"]
        );
        let skipped = Record {
            status: "skipped".into(),
            ..Default::default()
        };
        assert!(
            c.on_event(&Event::TrialFinished {
                ordinal: 3,
                record: Arc::new(skipped)
            })
            .is_empty()
        );
        assert_eq!(
            c.trials_run, 2,
            "skipped trials do not count for heartbeats"
        );
    }
}
