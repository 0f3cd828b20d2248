//! A small portable-SQL layer over the two backends, so each record module writes its queries
//! once. Queries use `$1`-style placeholders, which PostgreSQL requires and which sqlx's SQLite
//! driver also accepts (it maps `$NNN` to argument NNN, sqlx-sqlite `arguments.rs`).
//! Values bind with native types on each side (uuid/BLOB, timestamptz/TEXT, bytea/BLOB).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::{
    AssertSqlSafe, Decode, Postgres, Row as _, Sqlite, Transaction, Type,
    postgres::PgRow, sqlite::SqliteRow,
};
use uuid::Uuid;

use crate::error::{Result, db};

/// A bind value; `None` binds SQL NULL of that type.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Uuid(Option<Uuid>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    I64(Option<i64>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
}

macro_rules! value_from {
    ($($t:ty => $v:ident;)*) => {$(
        impl From<$t> for Value {
            fn from(x: $t) -> Self { Value::$v(Some(x.into())) }
        }
        impl From<Option<$t>> for Value {
            fn from(x: Option<$t>) -> Self { Value::$v(x.map(Into::into)) }
        }
    )*};
}
value_from! {
    Uuid => Uuid;
    String => Text;
    &str => Text;
    Vec<u8> => Bytes;
    i64 => I64;
    bool => Bool;
    DateTime<Utc> => Time;
}

/// One statement and its binds.
pub(crate) struct Sql {
    sql: Cow<'static, str>,
    args: Vec<Value>,
}

impl Sql {
    pub(crate) fn new(sql: &'static str) -> Self {
        Self { sql: Cow::Borrowed(sql), args: Vec::new() }
    }
    /// For statements assembled at runtime (IN lists): only placeholders and fixed SQL
    /// fragments may be concatenated, never values.
    pub(crate) fn dynamic(sql: String) -> Self {
        Self { sql: Cow::Owned(sql), args: Vec::new() }
    }
    pub(crate) fn bind(mut self, v: impl Into<Value>) -> Self {
        self.args.push(v.into());
        self
    }
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for v in $args {
            q = match v {
                Value::Uuid(x) => q.bind(x),
                Value::Text(x) => q.bind(x),
                Value::Bytes(x) => q.bind(x),
                Value::I64(x) => q.bind(x),
                Value::Bool(x) => q.bind(x),
                Value::Time(x) => q.bind(x),
            };
        }
        q
    }};
}

/// The pool: SQLite (embedded) or PostgreSQL (scale-out).
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Pool {
    /// Starts a write transaction. SQLite: `BEGIN IMMEDIATE` takes the write lock up front, so
    /// a transaction that reads and then appends an audit event never fails to upgrade its lock
    /// (SQLite docs, "BEGIN IMMEDIATE"; the busy timeout then applies).
    pub(crate) async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Pool::Sqlite(p) => {
                Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await.map_err(db("starting a transaction"))?)
            }
            Pool::Pg(p) => Tx::Pg(p.begin().await.map_err(db("starting a transaction"))?),
        })
    }

    /// Starts a read-only transaction that sees one consistent snapshot for all its
    /// statements, so a long read (walking the audit chain) neither sees rows committed after
    /// it began nor blocks writers. PostgreSQL: `REPEATABLE READ` (PostgreSQL docs 13.2.2; the
    /// default `READ COMMITTED` gives each statement a fresh snapshot). SQLite in WAL mode: a
    /// deferred `BEGIN` reads from the snapshot taken at its first read (SQLite docs, "WAL",
    /// section 2.2) and takes no write lock.
    pub(crate) async fn begin_read(&self) -> Result<Tx> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN DEFERRED").await.map_err(db("starting a read transaction"))?),
            Pool::Pg(p) => Tx::Pg(
                p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(db("starting a read transaction"))?,
            ),
        })
    }

    pub(crate) async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Pg(p) => p.close().await,
        }
    }
}

/// An open transaction; dropped without `commit` it rolls back.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Pg(Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Tx::Pg(_))
    }

    /// Runs a statement; returns rows affected.
    pub(crate) async fn execute(&mut self, q: Sql, context: &'static str) -> Result<u64> {
        let Sql { sql, args } = q;
        match self {
            Tx::Sqlite(tx) => bind_all!(sqlx::query::<Sqlite>(AssertSqlSafe(sql)), args)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
            Tx::Pg(tx) => bind_all!(sqlx::query::<Postgres>(AssertSqlSafe(sql)), args)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(db(context))
    }

    pub(crate) async fn fetch_all(&mut self, q: Sql, context: &'static str) -> Result<Vec<Row>> {
        let Sql { sql, args } = q;
        match self {
            Tx::Sqlite(tx) => bind_all!(sqlx::query::<Sqlite>(AssertSqlSafe(sql)), args)
                .fetch_all(&mut **tx)
                .await
                .map(|rows| rows.into_iter().map(Row::Sqlite).collect()),
            Tx::Pg(tx) => bind_all!(sqlx::query::<Postgres>(AssertSqlSafe(sql)), args)
                .fetch_all(&mut **tx)
                .await
                .map(|rows| rows.into_iter().map(Row::Pg).collect()),
        }
        .map_err(db(context))
    }

    pub(crate) async fn fetch_optional(&mut self, q: Sql, context: &'static str) -> Result<Option<Row>> {
        let Sql { sql, args } = q;
        match self {
            Tx::Sqlite(tx) => bind_all!(sqlx::query::<Sqlite>(AssertSqlSafe(sql)), args)
                .fetch_optional(&mut **tx)
                .await
                .map(|r| r.map(Row::Sqlite)),
            Tx::Pg(tx) => bind_all!(sqlx::query::<Postgres>(AssertSqlSafe(sql)), args)
                .fetch_optional(&mut **tx)
                .await
                .map(|r| r.map(Row::Pg)),
        }
        .map_err(db(context))
    }

    /// Like `fetch_optional`, but no row is `NotFound`.
    pub(crate) async fn fetch_one(&mut self, q: Sql, context: &'static str) -> Result<Row> {
        self.fetch_optional(q, context).await?.ok_or(crate::StoreError::NotFound)
    }

    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Pg(tx) => tx.commit().await,
        }
        .map_err(db("committing"))
    }
}

/// A result row from either backend.
pub(crate) enum Row {
    Sqlite(SqliteRow),
    Pg(PgRow),
}

impl Row {
    /// Reads a column; a type mismatch is a schema bug, reported as a database error.
    pub(crate) fn get<T>(&self, column: &'static str) -> Result<T>
    where
        T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>,
    {
        match self {
            Row::Sqlite(r) => r.try_get(column),
            Row::Pg(r) => r.try_get(column),
        }
        .map_err(db("reading a column"))
    }
}
