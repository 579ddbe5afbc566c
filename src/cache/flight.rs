//! One read in flight: the leader runs it, followers wait for its outcome.

use super::sync::{lock, Condvar, Mutex};

enum State<T> {
    Running,
    Done(T),
    Abandoned,
}

/// The rendezvous of one single-flight wave.
pub(crate) struct Flight<T> {
    state: Mutex<(State<T>, usize)>,
    done: Condvar,
}

impl<T: Clone> Flight<T> {
    pub(crate) fn new() -> Flight<T> {
        Flight {
            // The state and the number of followers waiting on it.
            state: Mutex::new((State::Running, 0)),
            done: Condvar::new(),
        }
    }

    /// Waits for the leader. `None` if the leader panicked.
    pub(crate) fn wait(&self) -> Option<T> {
        let mut st = lock(&self.state);
        st.1 += 1;
        loop {
            match &st.0 {
                State::Running => {
                    st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                State::Done(v) => return Some(v.clone()),
                State::Abandoned => return None,
            }
        }
    }

    /// Publishes the outcome to every follower. Followers register under the
    /// same lock, so when none is registered none can miss the outcome, and
    /// the wake-up (a system call) is skipped.
    pub(crate) fn finish(&self, value: T) {
        let mut st = lock(&self.state);
        st.0 = State::Done(value);
        let waiting = st.1 > 0;
        drop(st);
        if waiting {
            self.done.notify_all();
        }
    }

    /// Tells the followers that the leader gave up (it panicked).
    pub(crate) fn abandon(&self) {
        let mut st = lock(&self.state);
        if matches!(st.0, State::Running) {
            st.0 = State::Abandoned;
        }
        let waiting = st.1 > 0;
        drop(st);
        if waiting {
            self.done.notify_all();
        }
    }
}
