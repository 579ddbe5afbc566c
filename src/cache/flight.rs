//! One read in flight: the leader runs it, followers wait for its outcome.

use super::sync::{lock, Condvar, Mutex};

enum State<T> {
    Running,
    Done(T),
    Abandoned,
}

/// The rendezvous of one single-flight wave.
pub(crate) struct Flight<T> {
    state: Mutex<State<T>>,
    done: Condvar,
}

impl<T: Clone> Flight<T> {
    pub(crate) fn new() -> Flight<T> {
        Flight {
            state: Mutex::new(State::Running),
            done: Condvar::new(),
        }
    }

    /// Waits for the leader. `None` if the leader panicked.
    pub(crate) fn wait(&self) -> Option<T> {
        let mut st = lock(&self.state);
        loop {
            match &*st {
                State::Running => {
                    st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                State::Done(v) => return Some(v.clone()),
                State::Abandoned => return None,
            }
        }
    }

    /// Publishes the outcome to every follower.
    pub(crate) fn finish(&self, value: T) {
        *lock(&self.state) = State::Done(value);
        self.done.notify_all();
    }

    /// Tells the followers that the leader gave up (it panicked).
    pub(crate) fn abandon(&self) {
        let mut st = lock(&self.state);
        if matches!(*st, State::Running) {
            *st = State::Abandoned;
        }
        drop(st);
        self.done.notify_all();
    }
}
