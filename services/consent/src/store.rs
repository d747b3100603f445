//! The SQL of the consent service, for both engines. Statements are written with `$N`
//! placeholders and turned into SQLite's `?N` when needed.

use pmd_db::sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbErr, QueryResult, Statement, TransactionTrait, Value,
};
use pmd_db::{Backend, Database};

/// What a block targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Hpr(String),
    Org(String),
}

impl Target {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Target::Hpr(_) => "hpr",
            Target::Org(_) => "org",
        }
    }

    pub(crate) fn value(&self) -> &str {
        match self {
            Target::Hpr(v) | Target::Org(v) => v,
        }
    }

    fn from_columns(kind: &str, value: String) -> Result<Self, DbErr> {
        match kind {
            "hpr" => Ok(Target::Hpr(value)),
            "org" => Ok(Target::Org(value)),
            _ => Err(DbErr::Type("unknown block target kind".into())),
        }
    }
}

/// One row of `blocks` (times in unix microseconds).
#[derive(Debug, Clone)]
pub(crate) struct BlockRow {
    pub id: String,
    pub patient_id: String,
    pub target: Target,
    pub created_at: i64,
    /// Encoded `pmd.common.v1.Actor`.
    pub created_by: Vec<u8>,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<Vec<u8>>,
    pub valid_until: Option<i64>,
    pub policy_text: String,
    pub target_display: String,
}

/// The outcome of a block change: the block, and the revision the patient's cache entries
/// must be invalidated to before the change is acknowledged.
pub(crate) struct Changed {
    pub block: BlockRow,
    pub revision: i64,
}

/// An audit event to keep in the outbox with the change that caused it.
pub(crate) struct OutboxEvent {
    pub event_id: String,
    pub created_at: i64,
    pub body: Vec<u8>,
}

const BLOCK_COLUMNS: &str = "b.id, b.patient_id, b.target_kind, b.target_value, b.created_at, \
     b.created_by, b.revoked_at, b.revoked_by, b.valid_until, b.policy_text";

#[derive(Clone)]
pub(crate) struct Store {
    db: Database,
}

impl Store {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }

    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        let sql = match self.db.backend() {
            Backend::Postgres => sql.to_owned(),
            Backend::Sqlite => sql.replace('$', "?"),
        };
        Statement::from_sql_and_values(self.db.db_backend(), sql, values)
    }

    /// The patient's revision (0 when no block was ever made) and the ids of the active
    /// blocks matching the actor, read in one statement (one snapshot).
    pub(crate) async fn decide(
        &self,
        patient: &str,
        hpr: &str,
        org_parent: &str,
        org_child: &str,
        now: i64,
    ) -> Result<(i64, Vec<String>), DbErr> {
        let rows = self
            .db
            .conn()
            .query_all_raw(self.statement(
                "SELECT r.revision, b.id
                 FROM (SELECT $1 AS patient_id) p
                 LEFT JOIN consent_revisions r ON r.patient_id = p.patient_id
                 LEFT JOIN blocks b ON b.patient_id = p.patient_id
                   AND b.revoked_at IS NULL
                   AND (b.valid_until IS NULL OR b.valid_until > $2)
                   AND ((b.target_kind = 'hpr' AND b.target_value = $3)
                     OR (b.target_kind = 'org' AND b.target_value IN ($4, $5)))
                 ORDER BY b.created_at",
                vec![
                    patient.into(),
                    now.into(),
                    hpr.into(),
                    org_parent.into(),
                    org_child.into(),
                ],
            ))
            .await?;
        let mut revision = 0;
        let mut ids = Vec::new();
        for row in rows {
            revision = row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0);
            if let Some(id) = row.try_get_by_index::<Option<String>>(1)? {
                ids.push(id);
            }
        }
        Ok((revision, ids))
    }

    /// Bump the patient's revision inside `txn` (the row lock serialises block changes of one
    /// patient) and return the new one.
    async fn bump(&self, txn: &DatabaseTransaction, patient: &str) -> Result<i64, DbErr> {
        let row = txn
            .query_one_raw(self.statement(
                "INSERT INTO consent_revisions (patient_id, revision) VALUES ($1, 1)
                 ON CONFLICT (patient_id) DO UPDATE SET revision = consent_revisions.revision + 1
                 RETURNING revision",
                vec![patient.into()],
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("consent revision".into()))?;
        row.try_get_by_index::<i64>(0)
    }

    /// Record, with the change, that the patient's cache entries must be invalidated to
    /// `revision`, and the change's audit event.
    async fn remember(
        &self,
        txn: &DatabaseTransaction,
        patient: &str,
        revision: i64,
        block_id: &str,
        event: &OutboxEvent,
    ) -> Result<(), DbErr> {
        txn.execute_raw(self.statement(
            "INSERT INTO pending_invalidations (patient_id, revision, since) VALUES ($1, $2, $3)
             ON CONFLICT (patient_id) DO UPDATE SET revision = CASE
               WHEN excluded.revision > pending_invalidations.revision THEN excluded.revision
               ELSE pending_invalidations.revision END",
            vec![patient.into(), revision.into(), event.created_at.into()],
        ))
        .await?;
        txn.execute_raw(self.statement(
            "INSERT INTO audit_outbox (event_id, block_id, created_at, body) VALUES ($1, $2, $3, $4)",
            vec![
                event.event_id.as_str().into(),
                block_id.into(),
                event.created_at.into(),
                event.body.clone().into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// Insert `block` and bump the patient's revision in one transaction, unless the same
    /// active block exists: then nothing changes and the existing one is returned with the
    /// current revision (a retry of a create that was not acknowledged).
    pub(crate) async fn create_block(
        &self,
        block: &BlockRow,
        event: &OutboxEvent,
    ) -> Result<(Changed, bool), DbErr> {
        let txn = self.db.conn().begin().await?;
        let revision = self.bump(&txn, &block.patient_id).await?;
        let existing = txn
            .query_one_raw(self.statement(
                &format!(
                    "SELECT {BLOCK_COLUMNS}, b.target_display FROM blocks b
                     WHERE b.patient_id = $1 AND b.target_kind = $2 AND b.target_value = $3
                       AND b.revoked_at IS NULL
                       AND (b.valid_until IS NULL OR b.valid_until > $4)
                       AND COALESCE(b.valid_until, -1) = COALESCE($5, -1)
                     ORDER BY b.created_at DESC LIMIT 1"
                ),
                vec![
                    block.patient_id.as_str().into(),
                    block.target.kind().into(),
                    block.target.value().into(),
                    block.created_at.into(),
                    block.valid_until.into(),
                ],
            ))
            .await?;
        if let Some(row) = existing {
            txn.rollback().await?;
            let block = block_row(&row)?;
            return Ok((
                Changed {
                    block,
                    revision: revision - 1,
                },
                true,
            ));
        }
        txn.execute_raw(self.statement(
            "INSERT INTO blocks (id, patient_id, target_kind, target_value, created_at, created_by,
                                 valid_until, policy_text, target_display)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            vec![
                block.id.as_str().into(),
                block.patient_id.as_str().into(),
                block.target.kind().into(),
                block.target.value().into(),
                block.created_at.into(),
                block.created_by.clone().into(),
                block.valid_until.into(),
                block.policy_text.as_str().into(),
                block.target_display.as_str().into(),
            ],
        ))
        .await?;
        self.remember(&txn, &block.patient_id, revision, &block.id, event)
            .await?;
        txn.commit().await?;
        Ok((
            Changed {
                block: block.clone(),
                revision,
            },
            false,
        ))
    }

    pub(crate) async fn find_block(&self, id: &str) -> Result<Option<BlockRow>, DbErr> {
        let row = self
            .db
            .conn()
            .query_one_raw(self.statement(
                &format!("SELECT {BLOCK_COLUMNS}, b.target_display FROM blocks b WHERE b.id = $1"),
                vec![id.into()],
            ))
            .await?;
        row.as_ref().map(block_row).transpose()
    }

    /// Revoke `block` and bump the patient's revision in one transaction; an already revoked
    /// block is returned as it is, with the current revision.
    pub(crate) async fn revoke_block(
        &self,
        block: &BlockRow,
        revoked_at: i64,
        revoked_by: Vec<u8>,
        event: &OutboxEvent,
    ) -> Result<(Changed, bool), DbErr> {
        let txn = self.db.conn().begin().await?;
        let revision = self.bump(&txn, &block.patient_id).await?;
        let updated = txn
            .execute_raw(self.statement(
                "UPDATE blocks SET revoked_at = $2, revoked_by = $3
                 WHERE id = $1 AND revoked_at IS NULL",
                vec![
                    block.id.as_str().into(),
                    revoked_at.into(),
                    revoked_by.into(),
                ],
            ))
            .await?
            .rows_affected();
        let already = updated == 0;
        let revision = if already {
            txn.rollback().await?;
            revision - 1
        } else {
            self.remember(&txn, &block.patient_id, revision, &block.id, event)
                .await?;
            txn.commit().await?;
            revision
        };
        let block = self
            .find_block(&block.id)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("block".into()))?;
        Ok((Changed { block, revision }, already))
    }

    /// The patient's blocks, newest first, with the target's name when known.
    pub(crate) async fn list_blocks(
        &self,
        patient: &str,
        include_revoked: bool,
    ) -> Result<Vec<BlockRow>, DbErr> {
        let rows = self
            .db
            .conn()
            .query_all_raw(self.statement(
                &format!(
                    "SELECT {BLOCK_COLUMNS}, COALESCE(n.name, b.target_display)
                     FROM blocks b
                     LEFT JOIN known_names n ON n.kind = b.target_kind AND n.value = b.target_value
                     WHERE b.patient_id = $1 AND ($2 OR b.revoked_at IS NULL)
                     ORDER BY b.created_at DESC, b.id DESC
                     LIMIT 1000"
                ),
                vec![patient.into(), include_revoked.into()],
            ))
            .await?;
        rows.iter().map(block_row).collect()
    }

    /// The name last seen for (`kind`, `value`), if any.
    pub(crate) async fn known_name(
        &self,
        kind: &str,
        value: &str,
    ) -> Result<Option<String>, DbErr> {
        let row = self
            .db
            .conn()
            .query_one_raw(self.statement(
                "SELECT name FROM known_names WHERE kind = $1 AND value = $2",
                vec![kind.into(), value.into()],
            ))
            .await?;
        row.map(|r| r.try_get_by_index::<String>(0)).transpose()
    }

    pub(crate) async fn record_name(
        &self,
        kind: &str,
        value: &str,
        name: &str,
        now: i64,
    ) -> Result<(), DbErr> {
        self.db
            .conn()
            .execute_raw(self.statement(
                "INSERT INTO known_names (kind, value, name, seen_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind, value) DO UPDATE SET name = excluded.name, seen_at = excluded.seen_at",
                vec![kind.into(), value.into(), name.into(), now.into()],
            ))
            .await?;
        Ok(())
    }

    /// The patient's cache entries are invalidated up to `revision`.
    pub(crate) async fn invalidated(&self, patient: &str, revision: i64) -> Result<(), DbErr> {
        self.db
            .conn()
            .execute_raw(self.statement(
                "DELETE FROM pending_invalidations WHERE patient_id = $1 AND revision <= $2",
                vec![patient.into(), revision.into()],
            ))
            .await?;
        Ok(())
    }

    /// Invalidations still owed, oldest first.
    pub(crate) async fn pending_invalidations(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, DbErr> {
        let rows = self
            .db
            .conn()
            .query_all_raw(self.statement(
                "SELECT patient_id, revision FROM pending_invalidations ORDER BY since LIMIT $1",
                vec![limit.into()],
            ))
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get_by_index::<String>(0)?,
                    row.try_get_by_index::<i64>(1)?,
                ))
            })
            .collect()
    }

    /// Undelivered audit events of one block, oldest first.
    pub(crate) async fn outbox_of_block(
        &self,
        block_id: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, DbErr> {
        let rows = self
            .db
            .conn()
            .query_all_raw(self.statement(
                "SELECT event_id, body FROM audit_outbox WHERE block_id = $1 ORDER BY created_at",
                vec![block_id.into()],
            ))
            .await?;
        rows.iter().map(outbox_row).collect()
    }

    /// Undelivered audit events, oldest first.
    pub(crate) async fn outbox(&self, limit: i64) -> Result<Vec<(String, Vec<u8>)>, DbErr> {
        let rows = self
            .db
            .conn()
            .query_all_raw(self.statement(
                "SELECT event_id, body FROM audit_outbox ORDER BY created_at LIMIT $1",
                vec![limit.into()],
            ))
            .await?;
        rows.iter().map(outbox_row).collect()
    }

    pub(crate) async fn delivered(&self, event_ids: &[String]) -> Result<(), DbErr> {
        for id in event_ids {
            self.db
                .conn()
                .execute_raw(self.statement(
                    "DELETE FROM audit_outbox WHERE event_id = $1",
                    vec![id.as_str().into()],
                ))
                .await?;
        }
        Ok(())
    }
}

fn outbox_row(row: &QueryResult) -> Result<(String, Vec<u8>), DbErr> {
    Ok((
        row.try_get_by_index::<String>(0)?,
        row.try_get_by_index::<Vec<u8>>(1)?,
    ))
}

fn block_row(row: &QueryResult) -> Result<BlockRow, DbErr> {
    let kind: String = row.try_get_by_index(2)?;
    Ok(BlockRow {
        id: row.try_get_by_index(0)?,
        patient_id: row.try_get_by_index(1)?,
        target: Target::from_columns(&kind, row.try_get_by_index(3)?)?,
        created_at: row.try_get_by_index(4)?,
        created_by: row.try_get_by_index(5)?,
        revoked_at: row.try_get_by_index(6)?,
        revoked_by: row.try_get_by_index(7)?,
        valid_until: row.try_get_by_index(8)?,
        policy_text: row.try_get_by_index(9)?,
        target_display: row.try_get_by_index(10)?,
    })
}
