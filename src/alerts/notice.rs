//! Notices: what the notifier (and the status writer) has to tell the user
//! while the run goes on. They travel to the front end, which shows them on
//! the live screen or prints them as lines, since nothing may write to the
//! terminal behind the live screen's back.

use std::fmt;

use super::compose::Kind;
use super::error::SendError;

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The webhook (any kind).
    Webhook,
    /// Email over SMTP.
    Email,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Webhook => "webhook",
            Channel::Email => "email",
        })
    }
}

/// Something the front end should show. `Display` gives the whole line.
#[derive(Debug)]
pub enum Notice {
    /// An attempt failed with a transient error; the notifier tries again.
    Retrying {
        /// Where it was sent.
        channel: Channel,
        /// The notification's kind (start, best, ...).
        kind: Kind,
        /// Why (already redacted).
        error: SendError,
    },
    /// The notifier gave up on a notification on this channel.
    DeliveryFailed {
        /// Where it was sent.
        channel: Channel,
        /// The notification's kind (start, best, ...).
        kind: Kind,
        /// Why (already redacted).
        error: SendError,
    },
    /// The queue was full: a notification of this kind was left out.
    Dropped {
        /// The kind dropped.
        kind: Kind,
    },
    /// The drain limit passed at exit with notifications still queued.
    Undelivered {
        /// How many (including the one being sent).
        count: usize,
    },
    /// The status file could not be written; the next phase tries again.
    StatusFile(autotune::store::StoreError),
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Retrying {
                channel,
                kind,
                error,
            } => write!(
                f,
                "notify: {channel} notification ({kind}) failed: {error}; retrying"
            ),
            Notice::DeliveryFailed {
                channel,
                kind,
                error,
            } => write!(f, "notify: {channel} notification ({kind}) failed: {error}"),
            Notice::Dropped { kind } => write!(
                f,
                "notify: notification queue full: dropped a {kind} notification"
            ),
            Notice::Undelivered { count } => write!(
                f,
                "notify: {count} notification(s) not delivered before exit"
            ),
            Notice::StatusFile(e) => write!(f, "status file not updated: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_as_before() {
        let n = Notice::DeliveryFailed {
            channel: Channel::Webhook,
            kind: Kind::Start,
            error: SendError::Permanent("Feishu refused the message: code 19021".into()),
        };
        assert_eq!(
            n.to_string(),
            "notify: webhook notification (start) failed: Feishu refused the message: code 19021"
        );
        let n = Notice::Retrying {
            channel: Channel::Email,
            kind: Kind::Best,
            error: SendError::Transient("timed out".into()),
        };
        assert_eq!(
            n.to_string(),
            "notify: email notification (best) failed: timed out; retrying"
        );
        assert_eq!(
            Notice::Dropped {
                kind: Kind::Heartbeat
            }
            .to_string(),
            "notify: notification queue full: dropped a heartbeat notification"
        );
        assert_eq!(
            Notice::Undelivered { count: 3 }.to_string(),
            "notify: 3 notification(s) not delivered before exit"
        );
    }
}
