//! `ClientScope`, the visibility rule every client, appointment, consent, message and note
//! query applies in SQL (so get and list always agree), and explicit client shares.

use crate::{
    Actor, Result, Store,
    db::{Sql, Tx},
    ids::{ClientId, UserId},
    types::now,
};

/// Which clients an actor may see, enforced in SQL so get and list agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientScope {
    /// All clients of the actor's practice.
    Practice,
    /// Clients whose primary clinician is this user, clients explicitly shared with them, and
    /// clients of trainees they supervise.
    CareTeam(UserId),
}

impl ClientScope {
    fn user(self) -> Option<UserId> {
        match self {
            ClientScope::Practice => None,
            ClientScope::CareTeam(u) => Some(u),
        }
    }
}

/// The scope predicate over `client c`; binds `$1` = practice, `$2` = care-team user or NULL.
pub(crate) const SCOPE: &str = "c.practice_id = $1 AND ($2 IS NULL OR c.primary_clinician_id = $2 \
    OR EXISTS (SELECT 1 FROM client_share s WHERE s.client_id = c.client_id AND s.staff_user_id = $2) \
    OR EXISTS (SELECT 1 FROM staff_user t WHERE t.staff_user_id = c.primary_clinician_id AND t.supervisor_id = $2))";

/// Starts a query whose first two binds are the scope's.
pub(crate) fn scoped(sql: String, actor: &Actor, scope: ClientScope) -> Sql {
    Sql::dynamic(sql).bind(actor.practice_id).bind(scope.user())
}

/// Fails with `NotFound` unless the client is visible to the actor in `scope`.
pub(crate) async fn require_visible(tx: &mut Tx, actor: &Actor, scope: ClientScope, id: ClientId) -> Result<()> {
    tx.fetch_one(scoped(format!("SELECT 1 AS one FROM client c WHERE {SCOPE} AND c.client_id = $3"), actor, scope).bind(id), "checking client visibility")
        .await
        .map(|_| ())
}

impl Store {
    /// Makes a client visible to another clinician of the practice.
    pub async fn share_client(&self, actor: &Actor, scope: ClientScope, id: ClientId, with: UserId) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, id).await?;
        Self::user_in(&mut tx, actor.practice_id, with).await?;
        tx.execute(
            Sql::new("INSERT INTO client_share (client_id, staff_user_id, created_at) VALUES ($1,$2,$3) ON CONFLICT (client_id, staff_user_id) DO NOTHING")
                .bind(id)
                .bind(with)
                .bind(now()),
            "sharing a client",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "client.share", "client", Some(id.to_string())).await?;
        tx.commit().await
    }

    /// Withdraws an explicit share.
    pub async fn unshare_client(&self, actor: &Actor, scope: ClientScope, id: ClientId, with: UserId) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, id).await?;
        tx.execute(Sql::new("DELETE FROM client_share WHERE client_id = $1 AND staff_user_id = $2").bind(id).bind(with), "unsharing a client").await?;
        self.audit(&mut tx, &keys, actor, "client.unshare", "client", Some(id.to_string())).await?;
        tx.commit().await
    }

    /// Users the client is explicitly shared with.
    pub async fn client_shares(&self, actor: &Actor, scope: ClientScope, id: ClientId) -> Result<Vec<UserId>> {
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, id).await?;
        let rows = tx.fetch_all(Sql::new("SELECT staff_user_id FROM client_share WHERE client_id = $1 ORDER BY staff_user_id").bind(id), "listing shares").await?;
        rows.iter().map(|r| Ok(UserId::from_uuid(r.get("staff_user_id")?))).collect()
    }
}
