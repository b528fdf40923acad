//! The event fan-out: every event goes to every subscriber (front ends, the
//! status file writer, alerts).

use std::sync::Arc;

use tokio::sync::mpsc;

use super::event::Event;

/// Sends each event to every subscriber. Unbounded channels: emitting never
/// waits, so a slow consumer cannot slow the trials.
#[derive(Default, Clone)]
pub struct EventSink {
    subs: Vec<mpsc::UnboundedSender<Arc<Event>>>,
}

impl EventSink {
    /// A sink with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber.
    pub fn subscribe(&mut self) -> mpsc::UnboundedReceiver<Arc<Event>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subs.push(tx);
        rx
    }

    /// Publishes an event.
    pub fn emit(&self, e: Event) {
        let e = Arc::new(e);
        for s in &self.subs {
            let _ = s.send(e.clone());
        }
    }
}
