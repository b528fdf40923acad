//! Delivery: a bounded queue between composing and sending (dropping
//! heartbeats first), a rate limit for the webhook, retries with backoff
//! for transient failures, and the task that runs it all apart from the
//! engine so a slow or dead channel never slows the trials.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use autotune::Event;

use super::compose::{Composer, Kind, Notification};
use super::config::AlertConfig;
use super::email::send_email;
use super::error::SendError;
use super::notice::{Channel, Notice};
use super::redact::Redactor;
use super::webhook::send_webhook;

/// Kinds that are never dropped when the queue is full.
const CRITICAL: &[&str] = &["best", "crashed", "done"];
/// Queue capacity before dropping.
const QUEUE_CAP: usize = 32;

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
            if n.kind == Kind::Heartbeat {
                return Some(n);
            }
            let victim = q
                .iter()
                .position(|x| x.kind == Kind::Heartbeat)
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
/// `(channel, result)`. `retrying` hears of each failed attempt that will
/// be retried, so a slow failure is known before the retries run out.
pub async fn deliver(
    client: &reqwest::Client,
    cfg: &AlertConfig,
    n: &Notification,
    limit: Option<&RateLimitHandle>,
    retrying: &mut (dyn FnMut(Channel, &SendError) + Send),
) -> Vec<(Channel, Result<(), SendError>)> {
    let mut out = Vec::new();
    if let Some(wh) = &cfg.webhook {
        let r = with_retries(
            3,
            Duration::from_millis(500),
            |e| retrying(Channel::Webhook, e),
            || async {
                if let Some(l) = limit {
                    l.wait().await;
                }
                send_webhook(client, wh, n, cfg).await
            },
        )
        .await;
        out.push((Channel::Webhook, r));
    }
    if let Some(em) = &cfg.email
        && em.kinds.iter().any(|k| k == &n.kind)
    {
        let r = with_retries(
            2,
            Duration::from_secs(1),
            |e| retrying(Channel::Email, e),
            || send_email(em, n),
        )
        .await;
        out.push((Channel::Email, r));
    }
    out
}

/// Runs `send` up to `attempts` times while it fails with a
/// [`SendError::Transient`], waiting `first_delay`, then twice as long, in
/// between; a [`SendError::Permanent`] ends it at once. `retrying` hears of
/// each failure that will be retried.
async fn with_retries<F, Fut>(
    attempts: u32,
    first_delay: Duration,
    mut retrying: impl FnMut(&SendError),
    mut send: F,
) -> Result<(), SendError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), SendError>>,
{
    let mut delay = first_delay;
    for attempt in 1..=attempts {
        match send().await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() && attempt < attempts => {
                retrying(&e);
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e),
        }
    }
    Err(SendError::Permanent("no attempt made".into()))
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

/// Runs the notifier: consumes events, sends heartbeats on a timer, and
/// delivers on a task of its own. Failures go to `notices` (once per
/// distinct text, redacted). Returns when the events end and the queue is
/// drained (or `drain_limit` passed).
pub async fn run(
    cfg: AlertConfig,
    mut events: mpsc::UnboundedReceiver<Arc<Event>>,
    notices: mpsc::UnboundedSender<Notice>,
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
            let client = super::webhook::client();
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
                let mut report = |notice: Notice| {
                    if reported.insert(notice.to_string()) {
                        let _ = notices.send(notice);
                    }
                };
                let kind = n.kind;
                let results = deliver(&client, &cfg, &n, Some(&limit), &mut |channel, e| {
                    report(Notice::Retrying {
                        channel,
                        kind,
                        error: redact.error(e),
                    })
                })
                .await;
                for (channel, r) in results {
                    if let Err(e) = r {
                        report(Notice::DeliveryFailed {
                            channel,
                            kind: n.kind,
                            error: redact.error(&e),
                        });
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
                            let _ = notices.send(Notice::Dropped { kind: d.kind });
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
        let _ = notices.send(Notice::Undelivered {
            count: queue.len() + 1,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use serde_json::Value;

    use super::*;

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
        q.push(c.make(crate::alerts::Kind::Heartbeat, "h", "", Value::Null));
        for _ in 1..QUEUE_CAP {
            q.push(c.make(crate::alerts::Kind::Abnormal, "a", "", Value::Null));
        }
        assert_eq!(q.len(), QUEUE_CAP);
        // Full: a heartbeat is refused, a best evicts the queued heartbeat.
        assert_eq!(
            q.push(c.make(crate::alerts::Kind::Heartbeat, "h", "", Value::Null))
                .unwrap()
                .kind,
            Kind::Heartbeat
        );
        assert_eq!(
            q.push(c.make(crate::alerts::Kind::Best, "b", "", Value::Null))
                .unwrap()
                .kind,
            Kind::Heartbeat
        );
        // Then a crashed evicts an abnormal.
        assert_eq!(
            q.push(c.make(crate::alerts::Kind::Crashed, "c", "", Value::Null))
                .unwrap()
                .kind,
            Kind::Abnormal
        );
        // Only critical left: still accepted.
        for _ in 0..QUEUE_CAP {
            q.push(c.make(crate::alerts::Kind::Done, "d", "", Value::Null));
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

    /// Runs `with_retries` (3 attempts) over `replies`, one per attempt;
    /// returns the result, the attempts made and the retries announced.
    async fn retry_over(replies: Vec<Result<(), SendError>>) -> (Result<(), SendError>, u32, u32) {
        let made = AtomicU32::new(0);
        let mut announced = 0;
        let r = with_retries(
            3,
            Duration::from_millis(1),
            |_| announced += 1,
            || {
                let i = made.fetch_add(1, Ordering::SeqCst) as usize;
                let reply = replies[i].clone();
                async move { reply }
            },
        )
        .await;
        (r, made.load(Ordering::SeqCst), announced)
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_the_attempts_run_out() {
        let t = || Err(SendError::Transient("HTTP 503".into()));
        assert_eq!(
            retry_over(vec![t(), t(), t()]).await,
            (Err(SendError::Transient("HTTP 503".into())), 3, 2)
        );
        assert_eq!(retry_over(vec![t(), Ok(())]).await, (Ok(()), 2, 1));
    }

    #[tokio::test]
    async fn a_permanent_failure_is_not_retried() {
        let p = Err(SendError::Permanent("code 19021".into()));
        assert_eq!(retry_over(vec![p.clone()]).await, (p.clone(), 1, 0));
        // Nor after a transient one: it ends the retries at once.
        assert_eq!(
            retry_over(vec![Err(SendError::Transient("timeout".into())), p.clone()]).await,
            (p, 2, 1)
        );
    }
}
