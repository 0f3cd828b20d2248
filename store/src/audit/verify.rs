//! Verification of the audit chain: the head's MAC, then every event in seq order against
//! its predecessor's hash, all read from one snapshot.

use super::{AuditReport, EVENT_COLUMNS, GENESIS, TamperDetail, chain_hash, event_from_row, head_mac};
use crate::{db::Sql, error::Result, keyfile::Keyring};

/// Walks the whole chain in pages of `PAGE` events.
pub(crate) async fn verify(pool: &crate::db::Pool, keys: &Keyring) -> Result<AuditReport> {
    const PAGE: i64 = 2000;
    // One snapshot for the head and every page: with per-statement snapshots, events appended
    // while the walk runs would lie beyond the head read at the start and look inserted.
    let mut tx = pool.begin_read().await?;
    let head = tx
        .fetch_optional(Sql::new("SELECT seq, hash, mac FROM audit_head WHERE audit_head_id = 1"), "reading the audit head")
        .await?;
    let (head_seq, head_hash) = match head {
        // `migrate` creates the head before any practice or event exists, so a database with
        // either and no head has had its head deleted.
        None => {
            let used = tx
                .fetch_optional(
                    Sql::new("SELECT 1 AS one WHERE EXISTS (SELECT 1 FROM audit_event) OR EXISTS (SELECT 1 FROM practice)"),
                    "checking for a deleted audit head",
                )
                .await?;
            if used.is_some() {
                return Ok(AuditReport::HeadInvalid);
            }
            (0, GENESIS.to_vec())
        }
        Some(h) => {
            let (seq, hash, mac): (i64, Vec<u8>, Vec<u8>) = (h.get("seq")?, h.get("hash")?, h.get("mac")?);
            if !bool::from(subtle::ConstantTimeEq::ct_eq(&head_mac(keys, seq, &hash)[..], &mac[..])) {
                return Ok(AuditReport::HeadInvalid);
            }
            (seq, hash)
        }
    };
    let (mut last_seq, mut last_hash) = (0i64, GENESIS.to_vec());
    loop {
        let rows = tx
            .fetch_all(
                Sql::dynamic(format!("SELECT {EVENT_COLUMNS}, prev_hash, hash FROM audit_event WHERE seq > $1 ORDER BY seq LIMIT $2"))
                    .bind(last_seq)
                    .bind(PAGE),
                "reading audit events",
            )
            .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let e = event_from_row(r)?;
            if e.seq > head_seq {
                return Ok(AuditReport::Tampered { seq: e.seq, detail: TamperDetail::BeyondHead });
            }
            if e.seq != last_seq + 1 {
                return Ok(AuditReport::Tampered { seq: last_seq + 1, detail: TamperDetail::Missing });
            }
            let prev_hash: Vec<u8> = r.get("prev_hash")?;
            let hash: Vec<u8> = r.get("hash")?;
            if prev_hash != last_hash {
                return Ok(AuditReport::Tampered { seq: e.seq, detail: TamperDetail::PrevHash });
            }
            if chain_hash(&prev_hash, &e) != hash {
                return Ok(AuditReport::Tampered { seq: e.seq, detail: TamperDetail::Content });
            }
            (last_seq, last_hash) = (e.seq, hash);
        }
    }
    if last_seq < head_seq {
        return Ok(AuditReport::Truncated { head_seq, chain_end: last_seq });
    }
    if last_hash != head_hash {
        return Ok(AuditReport::Tampered { seq: last_seq, detail: TamperDetail::Content });
    }
    Ok(AuditReport::Intact { events: last_seq as u64 })
}
