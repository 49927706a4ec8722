//! Connection slots on one port: who may hold a connection, and whom a
//! newcomer displaces when there is no room. The agents' port has two
//! pools: *pending* (accepted, no HELLO yet: the TLS handshake and the
//! HELLO, under `hello-timeout-ms`) and *agents* (after HELLO); a syslog
//! port has the second only. Both pools count against the source
//! address's share.
//!
//! Rules, in the order they are applied:
//!
//! - **Per source**: a source address holds at most `per_source`
//!   connections (`max-connections-per-source`,
//!   `syslog-max-connections-per-source`). A newcomer over it displaces
//!   that source's oldest pending connection, else its connection idle
//!   the longest (see below); else it is refused.
//! - **Pending**: at most `max_pending`; when full, the oldest pending
//!   connection that has sent nothing for [`SILENT`] is closed to make
//!   room, else the oldest; a connection whose whole HELLO (or TLS
//!   ClientHello) was already waiting when it was accepted goes last: a flood of connections that never say HELLO cannot lock
//!   agents out, it can only make a slow HELLO fail (and its agent retry).
//! - **One connection per agent id** ([`Slot::establish`]): a HELLO naming
//!   an agent id that another connection serves replaces that connection
//!   when it comes from the same address (the agent reconnecting after a
//!   network failure) or carries a verified certificate for the name; from
//!   another address in plaintext it is refused. Two live connections of
//!   one id would interleave its batches and move its marks for each
//!   other.
//! - **Agents** (`max_connections`): when full, the newcomer displaces the
//!   connection that has delivered no line for the longest, if that is at
//!   least [`EVICT_IDLE`] ago, preferring connections that never delivered
//!   one (oldest first); else it is refused (BUSY). So idle connections
//!   after HELLO (squatters) cannot keep an agent with lines out, while
//!   agents that deliver lines are never displaced.
//!
//! A displaced connection is removed from its pool at once and told by its
//! [`Cutter`]; it closes on its own (with ERROR BUSY when it can be told).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::net::close::{Close, Cut, Cutter};

/// A connection idle (no lines) for less than this is never displaced.
pub const EVICT_IDLE: Duration = Duration::from_secs(10);

/// A pending connection that sent nothing for this long since it was
/// accepted is displaced before the others (an agent's HELLO or TLS
/// ClientHello follows its connection at once).
pub const SILENT: Duration = Duration::from_millis(250);

/// The limits of one port's pools, read at each admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotLimits {
    /// Connections after HELLO (syslog: all).
    pub max: u32,
    /// Connections before HELLO (syslog: unused).
    pub max_pending: u32,
    pub per_source: u32,
}

struct Entry {
    ip: IpAddr,
    since: Instant,
    /// When it last delivered a line (a syslog message).
    lines: Option<Instant>,
    pending: bool,
    /// A pending connection that sent its first bytes (a HELLO or a TLS
    /// handshake under way).
    heard: bool,
    /// A pending connection whose whole opening (HELLO, or the TLS
    /// ClientHello record) was waiting when it was accepted: displaced
    /// last, so that a flood of arrivals cannot evict an agent before its
    /// task reads what it already sent.
    ready: bool,
    agent: Option<String>,
    cutter: Cutter,
}

impl Entry {
    /// Whom to displace first: never delivered before delivered, then the
    /// oldest; `None` when it delivered a line less than [`EVICT_IDLE`] ago.
    fn rank(&self, now: Instant) -> Option<(bool, Instant)> {
        match self.lines {
            None => Some((false, self.since)),
            Some(t) if now.duration_since(t) >= EVICT_IDLE => Some((true, t)),
            Some(_) => None,
        }
    }
}

#[derive(Default)]
struct State {
    entries: HashMap<u64, Entry>,
    pending: u32,
    live: u32,
    per_ip: HashMap<IpAddr, u32>,
    agents: HashMap<String, u64>,
    next: u64,
    evicted: u64,
}

impl State {
    fn insert(&mut self, e: Entry) -> u64 {
        let id = self.next;
        self.next += 1;
        *self.per_ip.entry(e.ip).or_default() += 1;
        if e.pending {
            self.pending += 1;
        } else {
            self.live += 1;
        }
        self.entries.insert(id, e);
        id
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        if let Some(n) = self.per_ip.get_mut(&e.ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&e.ip);
            }
        }
        if e.pending {
            self.pending -= 1;
        } else {
            self.live -= 1;
        }
        if let Some(agent) = &e.agent {
            if self.agents.get(agent) == Some(&id) {
                self.agents.remove(agent);
            }
        }
        Some(e)
    }

    fn evict(&mut self, id: u64) {
        if let Some(e) = self.remove(id) {
            e.cutter.cut(Cut::Evicted);
            self.evicted += 1;
        }
    }

    /// The pending connection to displace (of `ip` only, when given): the
    /// oldest of those silent for [`SILENT`] since they connected, else
    /// the oldest.
    fn oldest_pending(&self, ip: Option<IpAddr>, now: Instant) -> Option<u64> {
        self.entries
            .iter()
            .filter(|(_, e)| e.pending && ip.is_none_or(|ip| e.ip == ip))
            .min_by_key(|(_, e)| {
                (
                    e.ready,
                    e.heard || now.duration_since(e.since) < SILENT,
                    e.since,
                )
            })
            .map(|(&id, _)| id)
    }

    /// The live connection to displace (of `ip` only, when given).
    fn idlest(&self, ip: Option<IpAddr>, now: Instant) -> Option<u64> {
        self.entries
            .iter()
            .filter(|(_, e)| !e.pending && ip.is_none_or(|ip| e.ip == ip))
            .filter_map(|(&id, e)| e.rank(now).map(|r| (r, id)))
            .min()
            .map(|(_, id)| id)
    }

    /// Makes room for one more connection from `ip`, or says why not.
    fn room_for_source(&mut self, ip: IpAddr, per_source: u32, now: Instant) -> Result<(), Close> {
        if self.per_ip.get(&ip).copied().unwrap_or(0) < per_source {
            return Ok(());
        }
        match self
            .oldest_pending(Some(ip), now)
            .or_else(|| self.idlest(Some(ip), now))
        {
            Some(id) => {
                self.evict(id);
                Ok(())
            }
            None => Err(Close::PerSource(per_source)),
        }
    }

    /// Makes room for one more live connection, or says why not.
    fn room_for_live(&mut self, max: u32, now: Instant) -> Result<(), Close> {
        if self.live < max {
            return Ok(());
        }
        match self.idlest(None, now) {
            Some(id) => {
                self.evict(id);
                Ok(())
            }
            None => Err(Close::Busy(max)),
        }
    }
}

/// One port's connections.
#[derive(Default)]
pub struct Slots {
    state: Mutex<State>,
}

/// Figures for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub pending: u32,
    pub live: u32,
    pub evicted: u64,
}

impl Slots {
    pub fn new() -> Arc<Slots> {
        Arc::new(Slots::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn counts(&self) -> Counts {
        let s = self.lock();
        Counts {
            pending: s.pending,
            live: s.live,
            evicted: s.evicted,
        }
    }

    /// A connection accepted on the agents' port: a pending slot, or why
    /// it is refused.
    pub fn arrive(
        self: &Arc<Self>,
        ip: IpAddr,
        limits: SlotLimits,
        cutter: Cutter,
        ready: bool,
    ) -> Result<Slot, Close> {
        let now = Instant::now();
        let mut s = self.lock();
        s.room_for_source(ip, limits.per_source, now)?;
        if s.pending >= limits.max_pending.max(1) {
            if let Some(id) = s.oldest_pending(None, now) {
                s.evict(id);
            }
        }
        let id = s.insert(Entry {
            ip,
            since: now,
            lines: None,
            pending: true,
            heard: ready,
            ready,
            agent: None,
            cutter,
        });
        Ok(Slot {
            slots: self.clone(),
            id,
        })
    }

    /// A connection accepted on a syslog port: a slot, or why it is
    /// refused.
    pub fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        limits: SlotLimits,
        cutter: Cutter,
    ) -> Result<Slot, Close> {
        let now = Instant::now();
        let mut s = self.lock();
        s.room_for_source(ip, limits.per_source, now)?;
        s.room_for_live(limits.max, now)?;
        let id = s.insert(Entry {
            ip,
            since: now,
            lines: None,
            pending: false,
            heard: true,
            ready: false,
            agent: None,
            cutter,
        });
        Ok(Slot {
            slots: self.clone(),
            id,
        })
    }
}

/// A connection's place; given back when dropped (or at once when it is
/// displaced).
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
}

impl Slot {
    /// After HELLO: moves the connection from the pending pool to the
    /// agents' pool as `agent`. `verified`: a client certificate proved the
    /// name. Fails when the connection was displaced meanwhile, another
    /// address serves the agent id, or the pool is full of connections
    /// that delivered lines recently.
    pub fn establish(&self, agent: &str, verified: bool, limits: SlotLimits) -> Result<(), Close> {
        let now = Instant::now();
        let mut s = self.slots.lock();
        let Some(me) = s.entries.get(&self.id) else {
            return Err(Close::Cut(Cut::Evicted));
        };
        let ip = me.ip;
        if let Some(&other) = s.agents.get(agent) {
            let same = s.entries.get(&other).is_some_and(|o| o.ip == ip);
            if !same && !verified {
                return Err(Close::InUse(agent.to_owned()));
            }
            if let Some(old) = s.remove(other) {
                old.cutter.cut(Cut::Replaced);
            }
        }
        s.room_for_live(limits.max, now)?;
        let me = s
            .entries
            .get_mut(&self.id)
            .expect("checked above, lock held");
        me.pending = false;
        me.since = now;
        me.agent = Some(agent.to_owned());
        s.pending -= 1;
        s.live += 1;
        s.agents.insert(agent.to_owned(), self.id);
        Ok(())
    }

    /// The pending connection sent its first bytes: it is displaced after
    /// those that sent nothing.
    pub fn heard(&self) {
        if let Some(e) = self.slots.lock().entries.get_mut(&self.id) {
            e.heard = true;
        }
    }

    /// The connection delivered a line (a syslog message) now.
    pub fn lines(&self) {
        if let Some(e) = self.slots.lock().entries.get_mut(&self.id) {
            e.lines = Some(Instant::now());
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::close::{cutter, CutRx};

    const LIMITS: SlotLimits = SlotLimits {
        max: 2,
        max_pending: 2,
        per_source: 3,
    };

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    fn arrive(slots: &Arc<Slots>, n: u8) -> (Slot, CutRx) {
        let (c, rx) = cutter();
        (slots.arrive(ip(n), LIMITS, c, false).unwrap(), rx)
    }

    fn is_cut(rx: &CutRx) -> Option<Cut> {
        rx.now()
    }

    #[test]
    fn a_full_pending_pool_drops_its_oldest_not_the_newcomer() {
        // Strangers that connect and never say HELLO must not lock an
        // agent out: the agent's fresh connection gets in, the oldest
        // stranger goes.
        let slots = Slots::new();
        let (_a, a) = arrive(&slots, 2);
        let (_b, b) = arrive(&slots, 3);
        let (_c, c) = arrive(&slots, 4);
        assert_eq!(is_cut(&a), Some(Cut::Evicted));
        assert_eq!((is_cut(&b), is_cut(&c)), (None, None));
        assert_eq!(slots.counts().pending, 2);
    }

    #[test]
    fn an_agent_whose_hello_was_waiting_outlasts_any_flood_of_arrivals() {
        // Under a flood (1,200 connections a second in the hostile test)
        // the oldest pending connection lived 0.2 s: less than it took to
        // schedule the agent's task and read the HELLO it had sent, so
        // the agent was reset at every try for 90 s. A connection whose
        // HELLO was already waiting at accept is displaced last.
        let slots = Slots::new();
        let (c, agent_rx) = cutter();
        let _agent = slots.arrive(ip(2), LIMITS, c, true).unwrap();
        let mut strangers = Vec::new();
        for n in 3..100 {
            strangers.push(arrive(&slots, n));
        }
        assert_eq!(is_cut(&agent_rx), None, "the agent was displaced");
        assert_eq!(slots.counts().pending, 2);
    }

    #[tokio::test]
    async fn pending_connections_silent_for_a_while_go_first() {
        // An agent whose HELLO is under way must outlast strangers that
        // connected after it but never sent a byte; and one accepted a
        // moment ago, its HELLO not there yet, is not taken for silent.
        tokio::time::pause();
        let slots = Slots::new();
        let (agent, agent_rx) = arrive(&slots, 2);
        agent.heard();
        let (_s1, s1) = arrive(&slots, 3);
        tokio::time::advance(SILENT).await;
        let (_fresh, fresh) = arrive(&slots, 4);
        assert_eq!(agent_rx.now(), None);
        assert_eq!(s1.now(), Some(Cut::Evicted), "silent for SILENT");
        let (_s3, _) = arrive(&slots, 5);
        assert_eq!(agent_rx.now(), Some(Cut::Evicted), "then the oldest");
        assert_eq!(fresh.now(), None);
    }

    #[test]
    fn a_source_over_its_share_displaces_its_own_oldest_or_is_refused() {
        // One address cannot take every slot; past its share it only
        // competes with itself.
        let slots = Slots::new();
        let limits = SlotLimits {
            max: 10,
            max_pending: 10,
            per_source: 2,
        };
        let (c1, r1) = cutter();
        let s1 = slots.arrive(ip(9), limits, c1, false).unwrap();
        let (c2, _r2) = cutter();
        let s2 = slots.arrive(ip(9), limits, c2, false).unwrap();
        let (c3, _r3) = cutter();
        let s3 = slots.arrive(ip(9), limits, c3, false).unwrap();
        assert_eq!(is_cut(&r1), Some(Cut::Evicted), "its own oldest pending");
        drop(s1);
        s2.establish("a", false, limits).unwrap();
        s2.lines();
        s3.establish("b", false, limits).unwrap();
        s3.lines();
        let (c4, _r4) = cutter();
        let refused = slots.arrive(ip(9), limits, c4, false);
        assert!(matches!(refused, Err(Close::PerSource(2))));
        let (c5, _r5) = cutter();
        assert!(
            slots.arrive(ip(10), limits, c5, false).is_ok(),
            "others are not limited"
        );
    }

    #[test]
    fn squatters_without_lines_make_room_for_agents_with_lines() {
        // 1,023 idle connections after HELLO locked every agent out: now a
        // newcomer displaces the one that never delivered a line, and an
        // agent delivering lines is never displaced.
        {
            let slots = Slots::new();
            let (agent, agent_rx) = arrive(&slots, 2);
            agent.establish("web1", false, LIMITS).unwrap();
            agent.lines();
            let (squat, squat_rx) = arrive(&slots, 3);
            squat.establish("x1", false, LIMITS).unwrap();
            let (new, new_rx) = arrive(&slots, 4);
            new.establish("x2", false, LIMITS).unwrap();
            assert_eq!(is_cut(&squat_rx), Some(Cut::Evicted));
            assert_eq!(is_cut(&agent_rx), None);
            new.lines();
            // Full of connections with recent lines: BUSY.
            let (late, late_rx) = arrive(&slots, 5);
            assert!(matches!(
                late.establish("x3", false, LIMITS),
                Err(Close::Busy(2))
            ));
            assert_eq!((is_cut(&agent_rx), is_cut(&new_rx)), (None, None));
            drop(late_rx);
        }
    }

    #[test]
    fn one_connection_per_agent_id() {
        // A second connection claiming web1 must not interleave with the
        // first: from web1's address it replaces it (a reconnect); from
        // elsewhere it is refused, unless a certificate proves the name.
        let slots = Slots::new();
        let limits = SlotLimits {
            max: 10,
            max_pending: 10,
            per_source: 10,
        };
        let (c, first_rx) = cutter();
        let first = slots.arrive(ip(2), limits, c, false).unwrap();
        first.establish("web1", false, limits).unwrap();
        let (c, _) = cutter();
        let other = slots.arrive(ip(3), limits, c, false).unwrap();
        assert!(matches!(
            other.establish("web1", false, limits),
            Err(Close::InUse(ref a)) if a == "web1"
        ));
        assert_eq!(is_cut(&first_rx), None);
        let (c, again_rx) = cutter();
        let again = slots.arrive(ip(2), limits, c, false).unwrap();
        again.establish("web1", false, limits).unwrap();
        assert_eq!(is_cut(&first_rx), Some(Cut::Replaced));
        drop(first);
        assert_eq!(slots.counts().live, 1, "the replaced one left at once");
        other.establish("web1", true, limits).unwrap();
        assert_eq!(is_cut(&again_rx), Some(Cut::Replaced));
    }
}
