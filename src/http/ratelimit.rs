//! Rate limits (OWASP API4): logins per client IP, step uploads per participant, and a
//! lock-out of organiser usernames after repeated wrong passwords.
//!
//! Each limit is a GCRA token bucket per key, kept in process memory: a map split into
//! shards behind their own `Mutex`, holding at most `limits.rate.max_keys` keys. A bucket that
//! has refilled completely is forgotten without changing any answer, so idle keys cost
//! nothing; under a flood of distinct live keys the ones nearest to refilled go first.
//! Several instances keep separate counts: behind a load balancer each instance allows its
//! own quota (a shared store would be needed to make the limits global).
//!
//! Handlers opt in through their signature: [`LoginQuota`] on the login endpoints,
//! [`Uploader`] (a [`Participant`] with upload quota left) on the step uploads.

use std::{
    collections::HashMap,
    future::{Ready, ready},
    hash::{BuildHasher, Hash, RandomState},
    net::{IpAddr, Ipv6Addr, SocketAddr},
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use ipnet::IpNet;

use crate::{http::error::ApiError, services::identity::Participant, settings::RateLimitSettings};

/// Every limit of the process, built once from the settings.
pub struct RateLimits {
    /// Logins per client IP (IPv6 clients per /64 network).
    pub login: KeyedLimiter<IpAddr>,
    /// Step uploads per participant id.
    pub uploads: KeyedLimiter<i32>,
    /// Organiser logins per username.
    pub organiser: Lockout,
    trusted_proxies: Vec<IpNet>,
}

impl RateLimits {
    /// The limits the settings describe.
    ///
    /// # Errors
    /// When a trusted proxy is neither an IP address nor a CIDR (validation refuses it first).
    pub fn new(s: &RateLimitSettings) -> anyhow::Result<Self> {
        Ok(Self {
            login: KeyedLimiter::new(s.login_burst, Duration::from_millis(s.login_refill_ms), s.max_keys),
            uploads: KeyedLimiter::new(s.upload_burst, Duration::from_millis(s.upload_refill_ms), s.max_keys),
            organiser: Lockout::new(
                s.organiser_max_failures,
                Duration::from_secs(s.organiser_failure_window_secs),
                Duration::from_secs(s.organiser_lockout_secs),
                s.max_keys,
            ),
            trusted_proxies: s.trusted_networks().map_err(anyhow::Error::msg)?,
        })
    }

    /// The client of a request that came from `peer` with these `X-Forwarded-For` values.
    ///
    /// The header is believed only when the peer is a trusted proxy; then the chain is read
    /// from the right and the first address that is not a trusted proxy is the client: the
    /// entries to its left were written by the client itself and could be anything. An
    /// entry that is not an address stops the walk at the last trusted hop.
    pub fn client_ip<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.is_trusted(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|value| value.split(',')).collect();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.is_trusted(ip) {
                break;
            }
        }
        client
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The rate-limit key of a client address: IPv6 clients are usually given a whole /64, so
/// one of them must not get a fresh bucket per address.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
    }
}

const SHARDS: usize = 16;

/// What a bounded map needs to know about its values to evict them.
trait Slot {
    type Rank: Ord + Copy;
    /// Forgetting the value now would change no answer.
    fn idle(&self, now: Instant) -> bool;
    /// Lower ranks are evicted first when only live values are left.
    fn rank(&self) -> Self::Rank;
}

/// A map split into shards, each behind its own lock and holding at most its share of keys.
struct BoundedMap<K, V> {
    shards: Box<[Mutex<HashMap<K, V>>]>,
    per_shard: usize,
    hasher: RandomState,
}

impl<K: Hash + Eq, V: Slot> BoundedMap<K, V> {
    fn new(max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: max_keys.div_ceil(SHARDS).max(8),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &K) -> MutexGuard<'_, HashMap<K, V>> {
        // Truncating the hash is fine: it only picks a shard.
        #[allow(clippy::cast_possible_truncation)]
        let index = self.hasher.hash_one(key) as usize % SHARDS;
        // A panic while holding the lock can't leave a bucket half-updated: take it anyway.
        self.shards[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the key's value, created by `new` when absent.
    fn with<R>(&self, key: K, now: Instant, new: impl FnOnce() -> V, f: impl FnOnce(&mut V) -> R) -> R {
        let mut map = self.shard(&key);
        if map.len() >= self.per_shard && !map.contains_key(&key) {
            make_room(&mut map, now, self.per_shard);
        }
        f(map.entry(key).or_insert_with(new))
    }

    fn remove(&self, key: &K) {
        self.shard(key).remove(key);
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

/// Drops the idle values; if live ones still fill the shard, drops the lowest-ranked eighth
/// at once so that the scan is paid once per many insertions, not on each.
fn make_room<K, V: Slot>(map: &mut HashMap<K, V>, now: Instant, capacity: usize) {
    map.retain(|_, v| !v.idle(now));
    if map.len() < capacity {
        return;
    }
    let drop = map.len() + 1 - capacity * 7 / 8;
    let mut ranks: Vec<V::Rank> = map.values().map(Slot::rank).collect();
    let (_, threshold, _) = ranks.select_nth_unstable(drop - 1);
    let threshold = *threshold;
    map.retain(|_, v| v.rank() > threshold);
}

/// The theoretical arrival time of a GCRA bucket: the bucket is full once it has passed.
struct Tat(Instant);

impl Slot for Tat {
    type Rank = Instant;
    fn idle(&self, now: Instant) -> bool {
        self.0 <= now
    }
    fn rank(&self) -> Instant {
        self.0
    }
}

/// A token bucket per key (GCRA): `burst` requests at once, one more every `refill`.
pub struct KeyedLimiter<K> {
    /// (refill, refill × burst); `None` when the limit is off.
    quota: Option<(Duration, Duration)>,
    buckets: BoundedMap<K, Tat>,
}

impl<K: Hash + Eq> KeyedLimiter<K> {
    /// A limiter; a `burst` of 0 lets everything through.
    pub fn new(burst: u32, refill: Duration, max_keys: usize) -> Self {
        Self {
            quota: (burst > 0 && !refill.is_zero()).then(|| (refill, refill.saturating_mul(burst))),
            buckets: BoundedMap::new(max_keys),
        }
    }

    /// Takes a token for `key`.
    ///
    /// # Errors
    /// How long until a token is available, when none is.
    pub fn check(&self, key: K) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    /// [`check`](Self::check) at a given instant.
    ///
    /// # Errors
    /// How long until a token is available, when none is.
    pub fn check_at(&self, key: K, now: Instant) -> Result<(), Duration> {
        let Some((refill, capacity)) = self.quota else {
            return Ok(());
        };
        self.buckets.with(
            key,
            now,
            || Tat(now),
            |tat| {
                let next = tat.0.max(now) + refill;
                let ahead = next.saturating_duration_since(now);
                if ahead > capacity {
                    Err(ahead - capacity)
                } else {
                    tat.0 = next;
                    Ok(())
                }
            },
        )
    }

    /// How many keys are remembered.
    pub fn tracked_keys(&self) -> usize {
        self.buckets.len()
    }
}

/// Failed attempts of one username.
struct Failures {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
    forget_at: Instant,
}

impl Slot for Failures {
    /// Locked usernames are evicted last, then those with the most failures: a flood of
    /// made-up usernames must not push out the lock of the one being guessed.
    type Rank = (bool, u32, Instant);
    fn idle(&self, now: Instant) -> bool {
        self.forget_at <= now
    }
    fn rank(&self) -> Self::Rank {
        (self.locked_until.is_some(), self.count, self.forget_at)
    }
}

/// Locks a username after `max_failures` wrong passwords within `window`, for `lockout`.
///
/// An attempt counts as failed from the moment it starts until [`Lockout::succeeded`] says
/// otherwise, so guesses sent in parallel can't get past the count while the slow password
/// checks run. Usernames are keyed by a keyed hash: unknown ones count the same way as real
/// ones, and a long made-up name costs no more memory than a short one.
pub struct Lockout {
    max_failures: u32,
    window: Duration,
    lockout: Duration,
    usernames: BoundedMap<u64, Failures>,
    hasher: RandomState,
}

impl Lockout {
    /// A lock-out; `max_failures = 0` turns it off.
    pub fn new(max_failures: u32, window: Duration, lockout: Duration, max_keys: usize) -> Self {
        Self {
            max_failures,
            window,
            lockout,
            usernames: BoundedMap::new(max_keys),
            hasher: RandomState::new(),
        }
    }

    /// Starts a login attempt for `username`, counting it as failed until it succeeds.
    ///
    /// # Errors
    /// How long the username stays locked, when it is.
    pub fn begin(&self, username: &str) -> Result<(), Duration> {
        self.begin_at(username, Instant::now())
    }

    /// [`begin`](Self::begin) at a given instant.
    ///
    /// # Errors
    /// How long the username stays locked, when it is.
    pub fn begin_at(&self, username: &str, now: Instant) -> Result<(), Duration> {
        if self.max_failures == 0 {
            return Ok(());
        }
        let fresh = || Failures {
            count: 0,
            since: now,
            locked_until: None,
            forget_at: now,
        };
        self.usernames.with(self.hasher.hash_one(username), now, fresh, |f| {
            match f.locked_until {
                Some(until) if until > now => return Err(until - now),
                Some(_) => *f = fresh(),
                None if now >= f.since + self.window => *f = fresh(),
                None => {}
            }
            f.count += 1;
            f.forget_at = f.since + self.window;
            if f.count >= self.max_failures {
                let until = now + self.lockout;
                f.locked_until = Some(until);
                f.forget_at = f.forget_at.max(until);
            }
            Ok(())
        })
    }

    /// The attempt begun for `username` had the right password: its failures are forgotten.
    pub fn succeeded(&self, username: &str) {
        if self.max_failures > 0 {
            self.usernames.remove(&self.hasher.hash_one(username));
        }
    }
}

fn limits(req: &HttpRequest) -> Result<&RateLimits, ApiError> {
    req.app_data::<web::Data<RateLimits>>()
        .map(|limits| limits.get_ref())
        .ok_or_else(|| anyhow::anyhow!("RateLimits is not configured").into())
}

/// A login attempt within its client's quota (`limits.rate.login_*`); 429 `rate_limited`
/// otherwise. Put it first in a login handler's arguments, before the body is read.
#[derive(Debug, Clone, Copy)]
pub struct LoginQuota;

impl FromRequest for LoginQuota {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(limits(req).and_then(|limits| {
            // Requests built in unit tests have no peer; a real connection always has one.
            let Some(peer) = req.peer_addr() else {
                return Ok(LoginQuota);
            };
            let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok());
            let client = limits.client_ip(peer.ip(), forwarded);
            limits.login.check(ip_key(client)).map(|()| LoginQuota).map_err(|wait| {
                ApiError::too_many_requests(
                    "rate_limited",
                    "Too many logins from this address; wait before trying again.",
                    wait,
                )
            })
        }))
    }
}

/// A participant with step-upload quota left (`limits.rate.upload_*`): 401/403 as for
/// [`Participant`], 429 `rate_limited` when the participant uploads too often.
#[derive(Debug, Clone, Copy)]
pub struct Uploader {
    pub id: i32,
}

impl FromRequest for Uploader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let who = Participant::from_request(req, payload).into_inner();
        ready(who.and_then(|who| {
            limits(req)?
                .uploads
                .check(who.id)
                .map(|()| Uploader { id: who.id })
                .map_err(|wait| {
                    ApiError::too_many_requests(
                        "rate_limited",
                        "Too many step uploads; wait before uploading again.",
                        wait,
                    )
                })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(trusted: &[&str]) -> RateLimitSettings {
        RateLimitSettings {
            login_burst: 3,
            login_refill_ms: 1000,
            upload_burst: 3,
            upload_refill_ms: 1000,
            organiser_max_failures: 3,
            organiser_failure_window_secs: 60,
            organiser_lockout_secs: 120,
            trusted_proxies: trusted.iter().map(|s| (*s).to_owned()).collect(),
            max_keys: 1000,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn a_bucket_allows_its_burst_then_one_per_refill() {
        let limiter = KeyedLimiter::new(3, Duration::from_secs(1), 1000);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check_at(1, t0), Ok(()));
        }
        assert_eq!(limiter.check_at(1, t0), Err(Duration::from_secs(1)));
        assert_eq!(limiter.check_at(2, t0), Ok(()), "other keys have their own bucket");
        let later = t0 + Duration::from_millis(400);
        assert_eq!(limiter.check_at(1, later), Err(Duration::from_millis(600)));
        assert_eq!(limiter.check_at(1, t0 + Duration::from_secs(1)), Ok(()));
        assert!(limiter.check_at(1, t0 + Duration::from_secs(1)).is_err());
        // After a long pause the bucket is full again, not fuller.
        let t9 = t0 + Duration::from_secs(9);
        for _ in 0..3 {
            assert_eq!(limiter.check_at(1, t9), Ok(()));
        }
        assert!(limiter.check_at(1, t9).is_err());
    }

    #[test]
    fn a_burst_of_zero_turns_the_limit_off_and_remembers_nothing() {
        let limiter = KeyedLimiter::new(0, Duration::from_secs(1), 1000);
        let now = Instant::now();
        for key in 0..10_000 {
            assert_eq!(limiter.check_at(key % 3, now), Ok(()));
        }
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_within_max_keys() {
        let limiter = KeyedLimiter::new(2, Duration::from_secs(60), 1000);
        let now = Instant::now();
        // Key 0 is used up; then a flood of live keys arrives.
        assert!(limiter.check_at(0, now).is_ok() && limiter.check_at(0, now).is_ok());
        for key in 1..100_000 {
            assert!(limiter.check_at(key, now + Duration::from_millis(1)).is_ok());
        }
        let per_shard = 1000usize.div_ceil(SHARDS);
        assert!(
            limiter.tracked_keys() <= per_shard * SHARDS,
            "{}",
            limiter.tracked_keys()
        );
        // Idle keys are forgotten first: once the flood has refilled, new keys get room.
        let later = now + Duration::from_secs(3600);
        for key in 200_000..201_000 {
            assert!(limiter.check_at(key, later).is_ok());
        }
        assert!(limiter.tracked_keys() <= per_shard * SHARDS);
    }

    #[test]
    fn a_flood_of_light_users_does_not_refill_a_heavy_users_bucket() {
        let limiter = KeyedLimiter::new(2, Duration::from_secs(60), 1000);
        let t0 = Instant::now();
        assert!(limiter.check_at(0, t0).is_ok() && limiter.check_at(0, t0).is_ok());
        // Each newcomer takes one token: its bucket is nearer to full than key 0's.
        for key in 1..100_000 {
            assert!(limiter.check_at(key, t0).is_ok());
        }
        assert!(limiter.check_at(0, t0).is_err(), "key 0 was not evicted");
    }

    #[test]
    fn lockout_after_max_failures_even_for_the_right_password_then_expires() {
        let lockout = Lockout::new(3, Duration::from_secs(60), Duration::from_secs(120), 1000);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(lockout.begin_at("alice", t0), Ok(()));
        }
        assert_eq!(lockout.begin_at("alice", t0), Err(Duration::from_secs(120)));
        assert_eq!(lockout.begin_at("bob", t0), Ok(()), "other usernames are not locked");
        let t1 = t0 + Duration::from_secs(100);
        assert_eq!(lockout.begin_at("alice", t1), Err(Duration::from_secs(20)));
        let t2 = t0 + Duration::from_secs(120);
        assert_eq!(lockout.begin_at("alice", t2), Ok(()), "the lock expires");
    }

    #[test]
    fn lockout_failures_outside_the_window_and_before_a_success_are_forgotten() {
        let lockout = Lockout::new(3, Duration::from_secs(60), Duration::from_secs(120), 1000);
        let t0 = Instant::now();
        assert!(lockout.begin_at("alice", t0).is_ok() && lockout.begin_at("alice", t0).is_ok());
        let t1 = t0 + Duration::from_secs(61);
        assert!(lockout.begin_at("alice", t1).is_ok() && lockout.begin_at("alice", t1).is_ok());
        lockout.succeeded("alice");
        assert!(lockout.begin_at("alice", t1).is_ok() && lockout.begin_at("alice", t1).is_ok());
        assert!(lockout.begin_at("alice", t1).is_ok());
        assert!(lockout.begin_at("alice", t1).is_err());
    }

    #[test]
    fn a_flood_of_made_up_usernames_does_not_lift_a_lock() {
        let lockout = Lockout::new(3, Duration::from_secs(60), Duration::from_secs(120), 1000);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(lockout.begin_at("admin", t0).is_ok());
        }
        for n in 0..50_000 {
            assert!(lockout.begin_at(&format!("user{n}"), t0).is_ok());
        }
        assert!(lockout.usernames.len() <= 1000usize.div_ceil(SHARDS) * SHARDS);
        assert!(lockout.begin_at("admin", t0).is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let none = RateLimits::new(&settings(&[])).expect("limits");
        let header = ["203.0.113.7"];
        assert_eq!(none.client_ip(ip("127.0.0.1"), header.into_iter()), ip("127.0.0.1"));

        let proxies = RateLimits::new(&settings(&["127.0.0.1", "10.0.0.0/8"])).expect("limits");
        let client = |peer: &str, xff: &[&str]| proxies.client_ip(ip(peer), xff.iter().copied());
        assert_eq!(client("198.51.100.1", &["203.0.113.7"]), ip("198.51.100.1"));
        assert_eq!(client("127.0.0.1", &[]), ip("127.0.0.1"));
        assert_eq!(client("127.0.0.1", &["203.0.113.7"]), ip("203.0.113.7"));
        // The right-most untrusted hop: what the client wrote on the left is ignored.
        assert_eq!(
            client("127.0.0.1", &["1.1.1.1, 203.0.113.7, 10.0.0.5"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            client("127.0.0.1", &["1.1.1.1", "203.0.113.7,10.0.0.5"]),
            ip("203.0.113.7")
        );
        assert_eq!(client("127.0.0.1", &["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(client("127.0.0.1", &["203.0.113.7:5000"]), ip("203.0.113.7"));
        // Garbage stops the walk at the last trusted hop rather than becoming a key.
        assert_eq!(client("127.0.0.1", &["unknown"]), ip("127.0.0.1"));
        assert_eq!(client("127.0.0.1", &["203.0.113.7, junk, 10.0.0.5"]), ip("10.0.0.5"));
        // IPv4-mapped IPv6 peers are their IPv4 address.
        assert_eq!(client("::ffff:127.0.0.1", &["203.0.113.7"]), ip("203.0.113.7"));
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        assert_eq!(ip_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(ip_key(ip("2001:db8:1:2:ffff::9")), ip("2001:db8:1:2::"));
        assert_eq!(ip_key(ip("203.0.113.7")), ip("203.0.113.7"));
    }
}
