//! The audit trail: every event of every plugin and of the host (sign-ups, logins, grant
//! changes, anticheat sanctions, match results...) appended to a hash chain in the key-value
//! store. Each record carries the hash of the one before it, so a changed, deleted or
//! reordered record breaks the chain at that record, and `verify` names it.
//!
//! Records are `r:<seq>` (seq contiguous from the first kept record); `head` holds the last
//! seq and hash, the first kept seq and the anchor (the hash the first kept record points to:
//! zeros, or the last pruned record's hash after retention pruned older ones).
//!
//! What the chain cannot show: someone able to write the database who rewrites every record
//! after a point *and* the head. `verify` prints the head hash; keep it somewhere else to
//! detect that too.

use a2e_pdk::abi::EventDelivery;
use a2e_pdk::codes;
use a2e_pdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const ZERO: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const PAGE: u32 = 1000;

/// One record of the trail.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When the event happened (host clock, Unix ms).
    pub at: i64,
    /// Event kind.
    pub kind: String,
    /// The plugin that emitted it, or none for the host.
    pub plugin: Option<String>,
    /// The user it concerns.
    pub user: Option<String>,
    /// Details.
    pub data: Value,
    /// The event's id in the host's event log (0 for events that are not stored there).
    pub event_id: i64,
    /// Events the trail missed before this one (the delivery queue was full).
    pub missed: u64,
    /// Hash of the previous record (or the anchor).
    pub prev: String,
    /// SHA-256 of this record's other fields, hex.
    pub hash: String,
}

/// The chain's head.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Head {
    /// Last seq (0 when empty).
    seq: u64,
    /// Last hash.
    hash: String,
    /// First kept seq.
    first: u64,
    /// What the first kept record's `prev` must be.
    anchor: String,
}

fn internal(e: impl std::fmt::Display) -> HostError {
    error(codes::INTERNAL, e.to_string())
}

/// The hash of a record: SHA-256 over its fields in a fixed order, `prev` included.
pub fn hash_of(r: &Record) -> String {
    let body = json!([r.seq, r.at, r.kind, r.plugin, r.user, r.data, r.event_id, r.missed, r.prev]);
    let digest = Sha256::digest(body.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn key(seq: u64) -> String {
    format!("r:{seq:012}")
}

fn head() -> Result<Head> {
    Ok(match kv::get("head")? {
        Some(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| internal(format!("the trail's head is damaged: {e}")))?
        }
        None => Head { seq: 0, hash: ZERO.into(), first: 1, anchor: ZERO.into() },
    })
}

fn save_head(h: &Head) -> Result<()> {
    kv::set("head", serde_json::to_vec(h).map_err(internal)?)
}

/// Appends a delivered event (the subscription export).
#[plugin_fn]
pub fn record(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |e: EventDelivery| {
        let mut h = head()?;
        let mut r = Record {
            seq: h.seq + 1,
            at: e.at,
            kind: e.kind,
            plugin: e.plugin,
            user: e.user_uuid,
            data: e.data,
            event_id: e.id,
            missed: e.dropped,
            prev: h.hash.clone(),
            hash: String::new(),
        };
        r.hash = hash_of(&r);
        kv::set(&key(r.seq), serde_json::to_vec(&r).map_err(internal)?)?;
        h.seq = r.seq;
        h.hash = r.hash.clone();
        save_head(&h)?;
        Ok(json!({ "seq": r.seq }))
    })
}

/// Reads up to `limit` records from seq `from` on, in order (keyset paging on the key, so
/// the millionth record is as quick to reach as the first).
fn page_from(from: u64, limit: u32) -> Result<Vec<(String, Vec<u8>)>> {
    let after = if from == 0 { "r:".to_owned() } else { key(from - 1) };
    kv::list_after("r:", &after, limit)
}

/// Where a verification resumes.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct VerifyReq {
    /// The seq to check next (default: the first kept record).
    from: Option<u64>,
    /// The hash record `from` must point to (given with `from`).
    prev: Option<String>,
    /// Records to check in this call (1 to 1000000, default 200000); a long trail is checked
    /// in several calls, each answering the cursor for the next.
    max: Option<u64>,
}

/// Checks the chain: `{ok, done, checked, first, last, head, broken?: {seq, reason},
/// next?: {from, prev}}`. `done` is false when `max` records were checked and more remain:
/// call again with `next`.
#[plugin_fn]
pub fn verify(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: Option<VerifyReq>| {
        let req = req.unwrap_or_default();
        let max = req.max.unwrap_or(200_000);
        if !(1..=1_000_000).contains(&max) {
            return Err(error(codes::INVALID_INPUT, format!("max must be 1 to 1000000, not {max}")));
        }
        let h = head()?;
        let (mut expect, mut prev) = match (req.from, req.prev) {
            (Some(from), Some(prev)) if from >= h.first => (from, prev),
            (None, None) => (h.first, h.anchor.clone()),
            _ => {
                return Err(error(
                    codes::INVALID_INPUT,
                    "give both `from` and `prev` (from a previous answer's `next`), or neither",
                ))
            }
        };
        let mut checked = 0u64;
        let broken = 'scan: loop {
            if expect > h.seq || checked >= max {
                break None;
            }
            let take = (max - checked).min(u64::from(PAGE)) as u32;
            let page = page_from(expect, take)?;
            if page.is_empty() {
                break None;
            }
            for (k, bytes) in page {
                let r: Record = match serde_json::from_slice(&bytes) {
                    Ok(r) => r,
                    Err(e) => break 'scan Some((expect, format!("record {k} does not decode: {e}"))),
                };
                if k != key(expect) || r.seq != expect {
                    break 'scan Some((expect, format!("record {expect} is missing (found {k} in its place)")));
                }
                if r.prev != prev {
                    break 'scan Some((expect, format!("record {expect} does not follow the record before it (its link was changed, or the record before it was)")));
                }
                if hash_of(&r) != r.hash {
                    break 'scan Some((
                        expect,
                        format!("record {expect} was changed after it was written (its hash does not match)"),
                    ));
                }
                prev = r.hash;
                expect += 1;
                checked += 1;
            }
        };
        let done = broken.is_some() || expect > h.seq || checked < max;
        let broken = broken.or_else(|| {
            if !done {
                None
            } else if expect != h.seq + 1 {
                Some((
                    expect,
                    format!("record {expect} is missing: the trail ends at {} but its head says {}", expect - 1, h.seq),
                ))
            } else if prev != h.hash {
                Some((h.seq, "the head's hash does not match the last record".into()))
            } else {
                None
            }
        });
        Ok(json!({
            "ok": broken.is_none(),
            "done": done,
            "checked": checked,
            "first": h.first,
            "last": h.seq,
            "head": h.hash,
            "broken": broken.map(|(seq, reason)| json!({ "seq": seq, "reason": reason })),
            "next": (!done).then(|| json!({ "from": expect, "prev": prev })),
        }))
    })
}

/// A query: every field optional; records newest first.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Query {
    /// Kind, or a prefix ending in '.' (`auth.`).
    kind: Option<String>,
    user: Option<String>,
    /// Plugin name, or "host" for the host's own events.
    plugin: Option<String>,
    /// From this time (Unix ms, inclusive).
    since: Option<i64>,
    /// Before this time (Unix ms, exclusive).
    until: Option<i64>,
    /// Records older than this seq (for the next page).
    before: Option<u64>,
    /// 1 to 500, default 50.
    limit: Option<usize>,
}

fn matches(q: &Query, r: &Record) -> bool {
    let kind_ok = q.kind.as_deref().is_none_or(|k| if k.ends_with('.') { r.kind.starts_with(k) } else { r.kind == k });
    let plugin_ok = q.plugin.as_deref().is_none_or(|p| match &r.plugin {
        Some(name) => name == p,
        None => p == "host",
    });
    kind_ok
        && plugin_ok
        && q.user.as_deref().is_none_or(|u| r.user.as_deref() == Some(u))
        && q.since.is_none_or(|s| r.at >= s)
        && q.until.is_none_or(|u| r.at < u)
}

/// Records matching a query, newest first: `{records, next}` (`next`: `before` for the next page).
#[plugin_fn]
pub fn query(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |q: Option<Query>| {
        let q = q.unwrap_or_default();
        let limit = q.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(error(codes::INVALID_INPUT, format!("limit must be 1 to 500, not {limit}")));
        }
        let h = head()?;
        let mut upto = q.before.unwrap_or(h.seq + 1).min(h.seq + 1); // exclusive
        let mut found = Vec::new();
        let mut scanned = 0u64;
        while upto > h.first && found.len() < limit && scanned < 200_000 {
            let from = upto.saturating_sub(u64::from(PAGE)).max(h.first);
            let page = page_from(from, (upto - from) as u32)?;
            scanned += upto - from;
            for (_, bytes) in page.into_iter().rev() {
                let Ok(r) = serde_json::from_slice::<Record>(&bytes) else { continue };
                if r.seq < upto && matches(&q, &r) && found.len() < limit {
                    found.push(r);
                }
            }
            upto = from;
        }
        let next = if upto > h.first || found.len() == limit { found.last().map(|r| r.seq) } else { None };
        Ok(json!({ "records": found, "next": next }))
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ExportReq {
    /// Records after this seq.
    after: u64,
    /// 1 to 10000, default 10000.
    limit: Option<u32>,
}

/// Records in order as JSON lines: `{lines, count, next}` (`next`: `after` for the next part).
#[plugin_fn]
pub fn export(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: Option<ExportReq>| {
        let req = req.unwrap_or_default();
        let limit = req.limit.unwrap_or(10_000);
        if !(1..=10_000).contains(&limit) {
            return Err(error(codes::INVALID_INPUT, format!("limit must be 1 to 10000, not {limit}")));
        }
        let h = head()?;
        let mut from = (req.after + 1).max(h.first);
        let mut lines = String::new();
        let mut count = 0u32;
        while count < limit && from <= h.seq {
            let take = PAGE.min(limit - count);
            let page = page_from(from, take)?;
            if page.is_empty() {
                break;
            }
            for (_, bytes) in &page {
                lines.push_str(std::str::from_utf8(bytes).map_err(internal)?);
                lines.push('\n');
            }
            count += page.len() as u32;
            from += page.len() as u64;
        }
        let next = (from <= h.seq).then_some(from - 1);
        Ok(json!({ "lines": lines, "count": count, "next": next }))
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PruneReq {
    /// Keep records newer than this many days (default: the `retention_days` config).
    older_than_days: Option<u32>,
}

/// Deletes records older than the retention; the chain stays verifiable from the first kept
/// record, whose `prev` becomes the head's anchor.
#[plugin_fn]
pub fn prune(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |req: Option<PruneReq>| prune_older(req.unwrap_or_default().older_than_days))
}

/// The hourly retention run.
#[plugin_fn]
pub fn retention(input: Vec<u8>) -> FnResult<Vec<u8>> {
    handle(&input, |_: Value| prune_older(None))
}

fn prune_older(days: Option<u32>) -> Result<Value> {
    let days = match days {
        Some(d) => d,
        None => config::get("retention_days")?.and_then(|v| v.trim().parse().ok()).unwrap_or(365),
    };
    if days == 0 {
        return Err(error(codes::INVALID_INPUT, "older_than_days must be at least 1"));
    }
    let cutoff = time::now()? - i64::from(days) * 86_400_000;
    let mut h = head()?;
    let mut pruned = 0u64;
    loop {
        let page = page_from(h.first, PAGE)?;
        let mut old = Vec::new();
        for (k, bytes) in &page {
            let r: Record = serde_json::from_slice(bytes).map_err(|e| internal(format!("record {k}: {e}")))?;
            // The newest record is always kept, so the head stays anchored to a record.
            if r.at >= cutoff || r.seq >= h.seq {
                break;
            }
            old.push((k.clone(), r));
        }
        let Some((_, last)) = old.last() else { break };
        // The head moves first: an interrupted prune leaves old records outside the chain's
        // range, which readers step over, never a chain that fails to verify.
        h.first = last.seq + 1;
        h.anchor = last.hash.clone();
        save_head(&h)?;
        for (k, _) in &old {
            kv::delete(k)?;
        }
        pruned += old.len() as u64;
        if old.len() < page.len() {
            break;
        }
    }
    Ok(json!({ "pruned": pruned, "first": h.first, "anchor": h.anchor }))
}
