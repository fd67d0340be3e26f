//! Server-side session storage for `tower-sessions`: a table in the main database by default, Redis when
//! `TRELLIS_REDIS_URL` is set (so many instances share sessions).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

use crate::db::Db;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "trellis_session";

fn backend_err(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn to_chrono(t: OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_else(Utc::now)
}

#[derive(Clone, Debug)]
pub enum Store {
    Db(DbStore),
    Redis(RedisStore),
}

#[async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Store::Db(s) => s.create(record).await,
            Store::Redis(s) => s.create(record).await,
        }
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Store::Db(s) => s.save(record).await,
            Store::Redis(s) => s.save(record).await,
        }
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Store::Db(s) => s.load(id).await,
            Store::Redis(s) => s.load(id).await,
        }
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Store::Db(s) => s.delete(id).await,
            Store::Redis(s) => s.delete(id).await,
        }
    }
}

/// Sessions in the `sessions` table, as Django's database backend.
#[derive(Clone, Debug)]
pub struct DbStore {
    db: Db,
}

impl DbStore {
    pub fn new(db: Db) -> Self {
        DbStore { db }
    }

    /// Inserts a new session (`false` if the id is taken), or updates an existing one (`false` if it is
    /// gone).
    async fn write(&self, record: &Record, new: bool) -> session_store::Result<bool> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let sql = if new {
            "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING"
        } else {
            "UPDATE sessions SET data = $2, expires_at = $3 WHERE id = $1"
        };
        let res = self
            .db
            .writer()
            .execute_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                [
                    record.id.to_string().into(),
                    data.into(),
                    to_chrono(record.expiry_date).into(),
                ],
            ))
            .await
            .map_err(backend_err)?;
        Ok(res.rows_affected() > 0)
    }
}

#[async_trait]
impl SessionStore for DbStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Always a fresh id: after `flush` the record still carries the old one, and reusing it would
        // let the logged-out cookie live on. A clash is astronomically unlikely; retry rather than overwrite.
        record.id = Id::default();
        while !self.write(record, true).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    /// Only ever updates: a request that loaded the session before a logout (or a login's new id)
    /// deleted it must not write it back, signed in, when it finishes.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(record, false).await.map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        #[derive(FromQueryResult)]
        struct Row {
            data: String,
            expires_at: DateTime<Utc>,
        }
        let row = Row::find_by_statement(Statement::from_sql_and_values(
            self.db.get_database_backend(),
            "SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2",
            [id.to_string().into(), Utc::now().into()],
        ))
        .one(self.db.reader())
        .await
        .map_err(backend_err)?;
        let Some(row) = row else { return Ok(None) };
        let data = serde_json::from_str(&row.data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date =
            OffsetDateTime::from_unix_timestamp(row.expires_at.timestamp()).map_err(backend_err)?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.db
            .writer()
            .execute_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                "DELETE FROM sessions WHERE id = $1",
                [id.to_string().into()],
            ))
            .await
            .map_err(backend_err)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for DbStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.db
            .writer()
            .execute_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                "DELETE FROM sessions WHERE expires_at <= $1",
                [Utc::now().into()],
            ))
            .await
            .map_err(backend_err)?;
        Ok(())
    }
}

/// Sessions as Redis keys that expire by themselves.
#[derive(Clone)]
pub struct RedisStore {
    redis: crate::shared_redis::SharedRedis,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisStore")
    }
}

impl RedisStore {
    /// Keys start with `prefix` (`TRELLIS_CACHE_KEY_PREFIX`), so several sites can share one Redis.
    pub fn new(redis: crate::shared_redis::SharedRedis, prefix: &str) -> Self {
        RedisStore {
            redis,
            prefix: prefix.to_string(),
        }
    }

    /// One command, bounded (see [`crate::shared_redis::SharedRedis::query`]).
    async fn query<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> session_store::Result<T> {
        self.redis
            .query(pipe, std::time::Duration::from_secs(2))
            .await
            .map_err(backend_err)
    }

    fn key(&self, id: &Id) -> String {
        format!("{}:session:{id}", self.prefix)
    }

    /// Sets a new key (`only_new`) or an existing one; `false` when that condition did not hold.
    async fn write(&self, record: &Record, only_new: bool) -> session_store::Result<bool> {
        let data =
            serde_json::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let ttl = (record.expiry_date - OffsetDateTime::now_utc())
            .whole_seconds()
            .max(1) as u64;
        let mut opts = redis::SetOptions::default().with_expiration(redis::SetExpiry::EX(ttl));
        // Existing keys only when saving, so a deleted session is not written back (see DbStore::save).
        opts = opts.conditional_set(if only_new {
            redis::ExistenceCheck::NX
        } else {
            redis::ExistenceCheck::XX
        });
        let mut pipe = redis::pipe();
        pipe.set_options(self.key(&record.id), data, opts);
        let (set,): (Option<String>,) = self.query(&pipe).await?;
        Ok(set.is_some())
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        record.id = Id::default();
        while !self.write(record, true).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(record, false).await.map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let mut pipe = redis::pipe();
        pipe.get(self.key(id));
        let (data,): (Option<Vec<u8>>,) = self.query(&pipe).await?;
        data.map(|d| {
            serde_json::from_slice(&d).map_err(|e| session_store::Error::Decode(e.to_string()))
        })
        .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let mut pipe = redis::pipe();
        pipe.del(self.key(id)).ignore();
        self.query::<()>(&pipe).await?;
        Ok(())
    }
}
