//! The memory peers' data may take, over all connections (`max-buffer-mb`):
//! frames being read and batches decoded but not yet committed. A
//! connection that cannot get budget stops reading, and TCP pushes back on
//! its peer; nothing is dropped.
//!
//! Two kinds of request, granted in this order:
//!
//! - a **batch** (the decoded size of a frame, [`logcore::wire::decoded_size`],
//!   or a syslog batch being gathered) may take the whole budget, in the
//!   order asked; it is held until the writer is done with the batch
//!   (committed, or dropped), whether or not its connection is still there;
//! - a **frame** larger than [`FLOOR`] is *admitted* before its body is read:
//!   the header's claim is granted whole (the buffer still grows only with
//!   the bytes that arrive), smallest claims first; frames are admitted
//!   while the budget is less than three quarters used, so decoded batches
//!   always find room, and frames over [`SMALL_FRAME`] while it is less
//!   than half used, so that large frames never take the room of an
//!   agent's ordinary batches. A frame's clock (`frame-timeout-ms`)
//!   starts when it is admitted.
//!
//! Why smallest first: a real agent's frames are its batches (agentd's
//! `batch-bytes`, 1 MiB by default); a peer claiming 16 MiB frames waits
//! while smaller frames flow. Why the cut: an admitted frame that receives
//! nothing for [`STALL`] while others wait is cut (the peer gets ERROR
//! PROTOCOL), so peers that claim, send part and stall hold the budget for
//! a second, not for the whole frame timeout.
//!
//! A request larger than its share is granted when nothing else holds
//! budget, so a lowered budget cannot deadlock a frame the peer was told it
//! may send. Below [`FLOOR`] nothing is asked: every connection may hold
//! that much (its frame buffer), so HELLOs, ACK-sized frames and small
//! batches need no budget to be read.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::{sleep, Instant};

use crate::net::close::{Cut, Cutter};

/// What a connection may buffer of a frame without asking the budget.
pub const FLOOR: usize = 32 * 1024;

/// Frames up to this size (agentd's batches are 1 MiB by default) may take
/// a quarter of the budget that larger ones may not.
pub const SMALL_FRAME: usize = 2 << 20;

/// While others wait for budget, an admitted frame that received no byte
/// for this long is cut.
pub const STALL: Duration = Duration::from_secs(1);

/// How often a waiting request looks again for stalled frames to cut.
const RECHECK: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Batch,
    Frame,
}

/// A waiting request's place in line: batches first, in arrival order;
/// then frames, smallest first.
type Place = (Kind, usize, u64);

struct Waiter {
    bytes: usize,
    tx: oneshot::Sender<()>,
    cutter: Option<Cutter>,
}

/// A frame being read, for the cut.
struct Admitted {
    bytes: usize,
    progress: Instant,
    cutter: Cutter,
    cut: bool,
    /// Arrived whole: waiting now is the collector's doing.
    whole: bool,
}

struct State {
    capacity: usize,
    used: usize,
    peak: usize,
    waiting: BTreeMap<Place, Waiter>,
    frames: HashMap<u64, Admitted>,
    next: u64,
    cuts: u64,
}

impl State {
    /// How far usage may go for a request: all of it for a batch, three
    /// quarters for a frame, half for a frame larger than [`SMALL_FRAME`].
    fn share(&self, kind: Kind, bytes: usize) -> usize {
        match kind {
            Kind::Batch => self.capacity,
            Kind::Frame if bytes <= SMALL_FRAME => self.capacity / 4 * 3,
            Kind::Frame => self.capacity / 2,
        }
    }

    fn fits(&self, kind: Kind, bytes: usize) -> bool {
        self.used == 0 || self.used + bytes <= self.share(kind, bytes)
    }

    /// Grants waiting requests in order while the first one fits.
    fn pump(&mut self) {
        while let Some((&(kind, _, id), w)) = self.waiting.first_key_value() {
            if !self.fits(kind, w.bytes) {
                break;
            }
            let (_, w) = self.waiting.pop_first().expect("looked at it");
            if w.tx.send(()).is_err() {
                // Its request is being dropped, and will find itself gone.
                continue;
            }
            self.used += w.bytes;
            self.peak = self.peak.max(self.used);
            if let Some(cutter) = w.cutter {
                self.frames.insert(
                    id,
                    Admitted {
                        bytes: w.bytes,
                        progress: Instant::now(),
                        cutter,
                        cut: false,
                        whole: false,
                    },
                );
            }
        }
    }

    /// Cuts frames that have stalled for [`STALL`], oldest progress first,
    /// until the first waiting request would fit once they let go.
    fn cut_stalled(&mut self) {
        let Some((&(kind, _, _), w)) = self.waiting.first_key_value() else {
            return;
        };
        let share = self.share(kind, w.bytes);
        let releasing: usize = self
            .frames
            .values()
            .filter(|f| f.cut)
            .map(|f| f.bytes)
            .sum();
        let mut short = (self.used + w.bytes)
            .saturating_sub(share)
            .saturating_sub(releasing);
        if short == 0 {
            return;
        }
        let now = Instant::now();
        let mut stalled: Vec<(Instant, u64)> = self
            .frames
            .iter()
            .filter(|(_, f)| !f.cut && !f.whole && now.duration_since(f.progress) >= STALL)
            .map(|(&id, f)| (f.progress, id))
            .collect();
        stalled.sort_unstable();
        for (_, id) in stalled {
            if short == 0 {
                break;
            }
            let f = self.frames.get_mut(&id).expect("listed above");
            f.cut = true;
            f.cutter.cut(Cut::Stalled);
            short = short.saturating_sub(f.bytes);
            self.cuts += 1;
        }
    }

    fn release(&mut self, id: u64, bytes: usize) {
        self.frames.remove(&id);
        self.used -= bytes;
        self.pump();
    }
}

/// The shared budget. Every method takes its lock briefly and never
/// across an `.await`.
pub struct Budget {
    state: Mutex<State>,
}

/// Figures for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub capacity: usize,
    pub used: usize,
    pub peak: usize,
    pub waiting: usize,
    /// Frames cut for stalling while others waited, since start.
    pub cuts: u64,
}

impl Budget {
    pub fn new(capacity: usize) -> Arc<Budget> {
        Arc::new(Budget {
            state: Mutex::new(State {
                capacity,
                used: 0,
                peak: 0,
                waiting: BTreeMap::new(),
                frames: HashMap::new(),
                next: 0,
                cuts: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A reload's new `max-buffer-mb`: what is held stays held; requests
    /// wait until usage is under the new figure.
    pub fn set_capacity(&self, capacity: usize) {
        let mut s = self.lock();
        s.capacity = capacity;
        s.pump();
    }

    pub fn usage(&self) -> Usage {
        let s = self.lock();
        Usage {
            capacity: s.capacity,
            used: s.used,
            peak: s.peak,
            waiting: s.waiting.len(),
            cuts: s.cuts,
        }
    }

    /// Asks for `bytes` of a decoded batch.
    pub fn batch(self: &Arc<Self>, bytes: usize) -> Request {
        self.request(Kind::Batch, bytes, None)
    }

    /// Asks to admit a frame of `bytes` (its header's claim); `cutter`
    /// ends the connection if the frame stalls while others wait.
    pub fn frame(self: &Arc<Self>, bytes: usize, cutter: Cutter) -> Request {
        self.request(Kind::Frame, bytes, Some(cutter))
    }

    fn request(self: &Arc<Self>, kind: Kind, bytes: usize, cutter: Option<Cutter>) -> Request {
        let (tx, rx) = oneshot::channel();
        let mut s = self.lock();
        let id = s.next;
        s.next += 1;
        let size = if kind == Kind::Frame { bytes } else { 0 };
        let place = (kind, size, id);
        s.waiting.insert(place, Waiter { bytes, tx, cutter });
        s.pump();
        if s.waiting.contains_key(&place) {
            s.cut_stalled();
        }
        Request {
            budget: self.clone(),
            place,
            bytes,
            rx: Some(rx),
        }
    }
}

/// A request in line. [`Request::ready`] waits for it (cancel-safe: the
/// place in line is kept); dropped before that, it leaves the line.
pub struct Request {
    budget: Arc<Budget>,
    place: Place,
    bytes: usize,
    /// `None` once granted.
    rx: Option<oneshot::Receiver<()>>,
}

impl Request {
    /// Waits until granted, looking for stalled frames to cut meanwhile.
    pub async fn ready(&mut self) {
        while let Some(rx) = self.rx.as_mut() {
            tokio::select! {
                r = rx => {
                    // The sender only goes away granted or with the budget.
                    let _ = r;
                    self.rx = None;
                }
                () = sleep(RECHECK) => self.budget.lock().cut_stalled(),
            }
        }
    }

    /// Whether it is granted, without waiting.
    pub fn is_ready(&mut self) -> bool {
        if let Some(rx) = self.rx.as_mut() {
            if rx.try_recv().is_ok() {
                self.rx = None;
            }
        }
        self.rx.is_none()
    }

    /// The budget held, once [`Request::ready`] returned.
    pub fn take(mut self) -> Held {
        assert!(self.is_ready(), "a request is taken once granted");
        Held {
            budget: self.budget.clone(),
            id: self.place.2,
            bytes: std::mem::take(&mut self.bytes),
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if self.bytes == 0 && self.rx.is_none() {
            return;
        }
        let mut s = self.budget.lock();
        if s.waiting.remove(&self.place).is_some() {
            s.pump();
            return;
        }
        // Granted, and not taken: give it back.
        let id = self.place.2;
        s.release(id, self.bytes);
    }
}

/// Budget held; given back when dropped.
pub struct Held {
    budget: Arc<Budget>,
    id: u64,
    bytes: usize,
}

impl Held {
    /// Bytes of the frame arrived: it is not stalled.
    pub fn progress(&self) {
        if let Some(f) = self.budget.lock().frames.get_mut(&self.id) {
            f.progress = Instant::now();
        }
    }

    /// The frame arrived whole: it can no longer stall.
    pub fn whole(&self) {
        if let Some(f) = self.budget.lock().frames.get_mut(&self.id) {
            f.whole = true;
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.lock().release(self.id, self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::close::cutter;

    #[tokio::test]
    async fn requests_past_the_budget_wait_for_a_release() {
        // Without back-pressure, a thousand peers' frames would each take
        // their memory and the collector would be killed for it.
        let b = Budget::new(1000);
        let mut a = b.batch(600);
        assert!(a.is_ready());
        let held = a.take();
        let mut c = b.batch(600);
        assert!(!c.is_ready(), "600 + 600 is over 1000");
        drop(held);
        assert!(c.is_ready(), "granted as soon as the first let go");
        let held = c.take();
        assert_eq!(b.usage().used, 600);
        drop(held);
        assert_eq!(b.usage().used, 0);
    }

    #[tokio::test]
    async fn frames_take_three_quarters_and_smallest_go_first() {
        // A peer claiming 16 MiB frames must not stand in front of an
        // agent's 1 MiB batch; and decoded batches must always find room.
        let b = Budget::new(1000);
        let (c1, _r1) = cutter();
        let mut big = b.frame(700, c1.clone());
        assert!(big.is_ready());
        let big = big.take();
        let mut huge = b.frame(600, c1.clone());
        let mut small = b.frame(100, c1.clone());
        assert!(!huge.is_ready() && !small.is_ready(), "frames stop at 750");
        let mut batch = b.batch(250);
        assert!(batch.is_ready(), "a batch may use the last quarter");
        drop(batch.take());
        drop(big);
        assert!(small.is_ready(), "the smaller frame was granted first");
        assert!(huge.is_ready(), "700 of 750 in use, then the larger");
        assert_eq!(b.usage().used, 700);
    }

    #[tokio::test]
    async fn large_frames_leave_a_quarter_to_ordinary_ones() {
        // Peers claiming 16 MiB frames filled the budget and an agent's
        // 1 MiB batches waited behind their stalls, long enough for its
        // connection to be displaced before it delivered a line.
        let b = Budget::new(64 * SMALL_FRAME);
        let (c, _r) = cutter();
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut big = b.frame(8 * SMALL_FRAME, c.clone());
            assert!(big.is_ready());
            held.push(big.take());
        }
        let mut more = b.frame(8 * SMALL_FRAME, c.clone());
        assert!(!more.is_ready(), "large frames stop at half");
        let mut agent = b.frame(SMALL_FRAME / 2, c);
        assert!(agent.is_ready(), "an ordinary frame still goes in");
    }

    #[tokio::test]
    async fn a_stalled_frame_is_cut_only_when_someone_waits() {
        // A peer that claims a frame, sends part of it and stops must not
        // hold the budget while agents wait; alone, it is left to the
        // frame timeout.
        tokio::time::pause();
        let b = Budget::new(1000);
        let (c1, mut r1) = cutter();
        let mut f = b.frame(700, c1);
        f.ready().await;
        let stalled = f.take();
        tokio::time::advance(STALL * 3).await;
        assert_eq!(b.usage().cuts, 0, "nobody waits: no cut");
        let (c2, _r2) = cutter();
        let mut next = b.frame(500, c2);
        assert!(!next.is_ready());
        assert_eq!(r1.cut().await, Cut::Stalled);
        assert_eq!(b.usage().cuts, 1);
        drop(stalled);
        next.ready().await;
    }

    #[tokio::test]
    async fn a_frame_making_progress_is_not_cut() {
        tokio::time::pause();
        let b = Budget::new(1000);
        let (c1, _r1) = cutter();
        let mut f = b.frame(700, c1);
        f.ready().await;
        let busy = f.take();
        let (c2, _r2) = cutter();
        let mut next = b.frame(500, c2);
        for _ in 0..10 {
            tokio::time::advance(STALL / 2).await;
            busy.progress();
            assert!(!next.is_ready());
            tokio::select! {
                biased;
                () = next.ready() => panic!("granted while the budget is held"),
                () = tokio::time::sleep(RECHECK) => {}
            }
        }
        assert_eq!(b.usage().cuts, 0);
    }

    #[tokio::test]
    async fn an_oversized_request_goes_through_alone() {
        // A budget lowered by a reload below a frame an agent was told it
        // may send must not hang that agent for ever.
        let b = Budget::new(100);
        let (c, _r) = cutter();
        let mut f = b.frame(500, c);
        assert!(f.is_ready());
        let held = f.take();
        let mut other = b.batch(1);
        assert!(!other.is_ready());
        drop(held);
        assert!(other.is_ready());
    }

    #[tokio::test]
    async fn a_dropped_request_leaves_nothing_behind() {
        // A connection closed while it waited must neither keep its place
        // nor leak what it was granted.
        let b = Budget::new(100);
        let held = b.batch(100).take();
        let waiting = b.batch(50);
        drop(waiting);
        assert_eq!(b.usage().waiting, 0);
        // Granted after its connection stopped looking, never taken.
        let granted = b.batch(50);
        drop(held);
        assert_eq!(b.usage().used, 50);
        drop(granted);
        assert_eq!(b.usage().used, 0);
        let mut later = b.batch(100);
        assert!(later.is_ready());
    }
}
