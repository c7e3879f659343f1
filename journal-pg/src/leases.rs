//! [`PgLeases`]: the leases of runs and triggers to nodes sharing one PostgreSQL journal
//! (table `duro_leases`, migrations/0002_leases.sql; `journal::lease` says what they mean).
//! Every statement reads expiry on the database's clock (`duro_now_ms()`), so the nodes'
//! clocks need not agree. Pokes travel by NOTIFY on `duro_poke[_{schema}]`, heard on the
//! store's own LISTEN connection; a node whose LISTEN connection is down misses them, and its
//! drivers find the change at their next turn (the expected version fences them meanwhile).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use journal::{Claimed, Leases, StoreError};
use sqlx::postgres::PgPool;
use tokio::sync::broadcast;

use crate::{db_error, to_i64_saturating, to_u64, PgStore};

/// The leases of one node (`node`) in the store's database.
pub struct PgLeases {
    pool: PgPool,
    node: Arc<str>,
    ttl_ms: u64,
    /// The store's poke channel, and the pokes its LISTEN task hears.
    channel: String,
    pokes: broadcast::Sender<String>,
}

type ClaimRow = (String, i64, Option<String>);

fn claimed(rows: Vec<ClaimRow>, node: &str) -> Result<Vec<Claimed>, StoreError> {
    rows.into_iter()
        .map(|(key, epoch, previous)| {
            Ok(Claimed {
                key,
                epoch: to_u64(epoch, "a lease epoch")?,
                taken_from: previous.filter(|p| p != node),
            })
        })
        .collect()
}

impl PgLeases {
    /// The leases `node` holds in `store`'s database, each lasting `ttl` unless renewed.
    pub fn new(store: &PgStore, node: impl Into<Arc<str>>, ttl: Duration) -> PgLeases {
        PgLeases {
            pool: store.pool.clone(),
            node: node.into(),
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            channel: store.poke_channel.clone(),
            pokes: store.pokes.clone(),
        }
    }
}

/// The bounds `[low, high)` of keys under a prefix (see `crate::prefix_range`); none when no
/// key can have it.
fn range(prefix: &str) -> Result<(String, String), StoreError> {
    crate::prefix_range(prefix).ok_or_else(|| {
        StoreError::io(
            "claiming leases",
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("no key can start with {prefix:?}"),
            ),
        )
    })
}

#[async_trait]
impl Leases for PgLeases {
    fn node(&self) -> &Arc<str> {
        &self.node
    }

    fn shared(&self) -> bool {
        true
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl_ms
    }

    async fn claim(&self, key: &str) -> Result<Option<Claimed>, StoreError> {
        Ok(self.claim_many(&[key.to_owned()]).await?.pop())
    }

    async fn claim_many(&self, keys: &[String]) -> Result<Vec<Claimed>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Free, expired or this node's (a restart, or a driver starting again): a new epoch.
        // The old holder is read in the same statement, locked, for the takeover count.
        let rows: Vec<ClaimRow> = sqlx::query_as(
            "WITH now AS (SELECT duro_now_ms() AS ms), \
             old AS (SELECT l.key, l.holder FROM duro_leases l, now \
                     WHERE l.key = ANY($1) \
                       AND (l.holder IS NULL OR l.holder = $2 OR l.expires_at < now.ms) \
                     ORDER BY l.key FOR UPDATE OF l) \
             UPDATE duro_leases l SET holder = $2, epoch = l.epoch + 1, \
                    expires_at = (SELECT ms FROM now) + $3, wake_at = NULL \
             FROM old WHERE l.key = old.key \
             RETURNING l.key, l.epoch, old.holder",
        )
        .bind(keys)
        .bind(&*self.node)
        .bind(to_i64_saturating(self.ttl_ms))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("claiming leases in PostgreSQL", e))?;
        claimed(rows, &self.node)
    }

    async fn claim_due(
        &self,
        prefix: &str,
        grace_ms: u64,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let (low, high) = range(prefix)?;
        // SKIP LOCKED: nodes claiming at the same time split the work instead of queueing.
        let rows: Vec<ClaimRow> = sqlx::query_as(
            "WITH now AS (SELECT duro_now_ms() AS ms), \
             expired AS (SELECT l.key, l.holder FROM duro_leases l, now \
                WHERE l.holder IS NOT NULL AND l.expires_at < now.ms \
                  AND l.key >= $1 AND l.key < $2 \
                ORDER BY l.expires_at LIMIT $5 FOR UPDATE OF l SKIP LOCKED), \
             waking AS (SELECT l.key, l.holder FROM duro_leases l, now \
                WHERE l.holder IS NULL AND l.wake_at <= now.ms - $4 \
                  AND l.key >= $1 AND l.key < $2 \
                ORDER BY l.wake_at LIMIT $5 FOR UPDATE OF l SKIP LOCKED), \
             due AS (SELECT * FROM expired UNION ALL SELECT * FROM waking) \
             UPDATE duro_leases l SET holder = $3, epoch = l.epoch + 1, \
                    expires_at = (SELECT ms FROM now) + $6, wake_at = NULL \
             FROM due WHERE l.key = due.key \
             RETURNING l.key, l.epoch, due.holder",
        )
        .bind(low)
        .bind(high)
        .bind(&*self.node)
        .bind(to_i64_saturating(grace_ms))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(to_i64_saturating(self.ttl_ms))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("claiming due leases in PostgreSQL", e))?;
        claimed(rows, &self.node)
    }

    async fn reclaim_own(&self, prefix: &str) -> Result<Vec<Claimed>, StoreError> {
        let (low, high) = range(prefix)?;
        let rows: Vec<ClaimRow> = sqlx::query_as(
            "UPDATE duro_leases l SET epoch = l.epoch + 1, \
                    expires_at = duro_now_ms() + $4, wake_at = NULL \
             WHERE l.holder = $3 AND l.key >= $1 AND l.key < $2 \
             RETURNING l.key, l.epoch, l.holder",
        )
        .bind(low)
        .bind(high)
        .bind(&*self.node)
        .bind(to_i64_saturating(self.ttl_ms))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("reclaiming this node's leases in PostgreSQL", e))?;
        claimed(rows, &self.node)
    }

    async fn release(
        &self,
        key: &str,
        epoch: u64,
        wake_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE duro_leases SET holder = NULL, expires_at = 0, wake_at = $4 \
             WHERE key = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(key)
        .bind(&*self.node)
        .bind(to_i64_saturating(epoch))
        .bind(wake_at_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(format!("releasing the lease of {key}"), e))?;
        Ok(())
    }

    async fn finish(&self, key: &str, epoch: u64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM duro_leases WHERE key = $1 AND holder = $2 AND epoch = $3")
            .bind(key)
            .bind(&*self.node)
            .bind(to_i64_saturating(epoch))
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(format!("deleting the lease of {key}"), e))?;
        Ok(())
    }

    async fn renew(&self) -> Result<u64, StoreError> {
        let done =
            sqlx::query("UPDATE duro_leases SET expires_at = duro_now_ms() + $2 WHERE holder = $1")
                .bind(&*self.node)
                .bind(to_i64_saturating(self.ttl_ms))
                .execute(&self.pool)
                .await
                .map_err(|e| db_error("renewing this node's leases", e))?;
        Ok(done.rows_affected())
    }

    async fn held(&self, prefix: &str) -> Result<Vec<Claimed>, StoreError> {
        let (low, high) = range(prefix)?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT l.key, l.epoch FROM duro_leases l \
             WHERE l.holder = $1 AND l.expires_at > duro_now_ms() \
               AND l.key >= $2 AND l.key < $3 \
             ORDER BY l.key",
        )
        .bind(&*self.node)
        .bind(low)
        .bind(high)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("reading this node's leases in PostgreSQL", e))?;
        rows.into_iter()
            .map(|(key, epoch)| {
                Ok(Claimed {
                    key,
                    epoch: to_u64(epoch, "a lease epoch")?,
                    taken_from: None,
                })
            })
            .collect()
    }

    async fn seed(&self, keys: &[String]) -> Result<u64, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(
            "INSERT INTO duro_leases (key, holder, epoch, expires_at, wake_at) \
             SELECT k, NULL, 1, 0, 0 FROM unnest($1::text[]) AS k \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(keys)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error("creating leases of unfinished runs", e))?;
        Ok(done.rows_affected())
    }

    async fn poke(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(format!("poking {key}"), e))?;
        Ok(())
    }

    fn pokes(&self) -> broadcast::Receiver<String> {
        self.pokes.subscribe()
    }
}
