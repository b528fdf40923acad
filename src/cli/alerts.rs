//! The notification flags turned into the alerts' configuration.

use super::*;

/// Validates the notification flags.
pub fn to_alerts(a: &TuneArgs, cfg: &Config) -> Result<AlertConfig, String> {
    let kind = WebhookKind::parse(&a.notify.webhook_kind)?;
    if a.email.smtp_ssl && a.email.smtp_no_starttls {
        return Err("--smtp_ssl and --smtp_no_starttls contradict each other: choose one".into());
    }
    let webhook = match a
        .notify
        .webhook_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        None => None,
        Some(u) => {
            // Say what is wrong without echoing the URL: it holds the bot token.
            let url = reqwest::Url::parse(u)
                .map_err(|e| format!("--webhook_url (TUNE_WEBHOOK_URL): not a URL ({e})"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(format!(
                    "--webhook_url (TUNE_WEBHOOK_URL): must be an http(s) URL, got a {} URL",
                    url.scheme()
                ));
            }
            Some(Webhook {
                url: u.to_string(),
                kind,
                secret: a.notify.feishu_secret.clone().filter(|s| !s.is_empty()),
            })
        }
    };
    let email = match a.email.smtp_host.as_deref().filter(|h| !h.is_empty()) {
        None => None,
        Some(host) => {
            let to: Vec<String> = a
                .email
                .smtp_to
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if to.is_empty() {
                return Err(
                    "--smtp_to (TUNE_SMTP_TO): at least one recipient is needed with --smtp_host"
                        .into(),
                );
            }
            let from = a
                .email
                .smtp_from
                .clone()
                .filter(|s| !s.is_empty())
                .or_else(|| a.email.smtp_user.clone())
                .ok_or("--smtp_from (TUNE_SMTP_FROM): a sender is needed with --smtp_host")?;
            for addr in to.iter().chain(std::iter::once(&from)) {
                addr.parse::<lettre::message::Mailbox>().map_err(|e| {
                    format!("--smtp_from/--smtp_to: {addr:?} is not an email address ({e})")
                })?;
            }
            if let Some(ca) = &a.email.smtp_ca_file
                && !ca.is_file()
            {
                return Err(format!("--smtp_ca_file {}: not found", ca.display()));
            }
            Some(Email {
                host: host.to_string(),
                port: a.email.smtp_port,
                user: a.email.smtp_user.clone().filter(|s| !s.is_empty()),
                pass: a.email.smtp_pass.clone(),
                from,
                to,
                tls: if a.email.smtp_ssl {
                    SmtpTls::Implicit
                } else if a.email.smtp_no_starttls {
                    SmtpTls::Plain
                } else {
                    SmtpTls::StartTls
                },
                kinds: email_kinds(&a.email.email_kinds)?,
                ca_file: a.email.smtp_ca_file.clone(),
            })
        }
    };
    Ok(AlertConfig {
        goal: (!cfg.goal.is_default()).then(|| cfg.goal.clone()),
        webhook,
        email,
        heartbeat_trials: a.heartbeats.heartbeat_trials,
        heartbeat_interval: seconds(
            "--heartbeat_interval_s",
            a.heartbeats.heartbeat_interval_s,
            true,
        )
        .ok()
        .filter(|d| !d.is_zero()),
        notify_trial_done: a.notify.notify_trial_done,
        notify_trial_done_every: a.notify.notify_trial_done_every.max(1),
        repo: cfg.repo.display().to_string(),
        files: vec![
            ("results".into(), cfg.rel(&cfg.results)),
            ("best".into(), cfg.rel(&cfg.best)),
            ("status".into(), cfg.rel(&cfg.status_file)),
        ],
    })
}

/// `--email_kinds`: notification kinds, comma-separated; an unknown one is
/// a mistake to say, not a kind that never comes.
fn email_kinds(list: &str) -> Result<Vec<crate::alerts::Kind>, String> {
    use crate::alerts::Kind;
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            Kind::parse(s).ok_or_else(|| {
                format!(
                    "--email_kinds: unknown kind {s:?} (one of {})",
                    Kind::ALL.map(|k| k.as_str()).join(", ")
                )
            })
        })
        .collect()
}
