//! What a bearer token scoped to some negotiating groups may see and touch beyond the routes
//! that name a group (those the router checks itself, `api::auth::ROUTE_RULES`).
//!
//! Guarantees, for a request whose token is scoped to some groups (`GroupScope::Only`); a
//! token scoped to `*`, and every request when tsmd has no tokens, sees and may touch
//! everything its rights allow:
//! - **Lists** (`GET /v1/groups`, `/v1/subsets`, `/v1/rendezvous`, `/v1/claims`,
//!   `/v1/blocks`) hold only items of groups in the scope; the BFIR flows of
//!   `GET /v1/switches/{dpid}/bift` only leases of those groups; `GET
//!   /v1/switches/{dpid}/rules` (every group's flows, unattributed) needs a `*` token.
//! - **Resources named by address or id** (`GET`/`DELETE /v1/subsets/{address}`,
//!   `DELETE /v1/bier/leases/{address}`, `POST /v1/claims/{id}/renew`, `DELETE
//!   /v1/claims/{id}`, and the same for blocks): one of a group outside the scope is
//!   answered exactly as one that does not exist (404 `not-found` with the same text, or
//!   410 `claim-expired` for a claim or block), so a token cannot learn that another
//!   group's resource exists or which group it belongs to.
//! - **Owners**: a claim or block is its taker's: the token's name goes into the core with
//!   the claim or block command and is kept with it, in the claim journal and the snapshot
//!   too, so a restart of tsmd does not hand it to the rest of its group. Another token, even
//!   one scoped to the same group, gets 403 `forbidden` naming itself, the group and the
//!   owner, unless it has the `admin` right. Claims and blocks taken without tokens, or
//!   restored from records written before owners were kept, have none: any token allowed
//!   their group and `claims` may renew or release them. On-demand subsets and BIER leases
//!   are their creator's the same way (kept in the snapshot): [`check_owner`] refuses
//!   `DELETE` by another non-admin token with the same 403; reading them stays open to the
//!   group.
//! - **Events** (`GET /v1/events`): `api::events` filters by group; [`seed_events`] tells its
//!   index which group the restored subsets, claims and blocks belong to.

use api::events::EventLog;
use api::{ApiError, BlockId, ClaimId, GroupScope, RequestMeta, Right};

use super::TsmdService;
use crate::machine::Controller;

/// Whether the request may see resources of `group` (always without authentication).
pub(crate) fn visible(meta: &RequestMeta, group: &str) -> bool {
    meta.principal
        .as_ref()
        .is_none_or(|p| p.groups.allows(group))
}

/// Whether the request's token is scoped to some groups (not `*`, not unauthenticated).
pub(crate) fn scoped(meta: &RequestMeta) -> bool {
    meta.principal
        .as_ref()
        .is_some_and(|p| p.groups != GroupScope::Any)
}

/// Keeps the items of groups the request may see.
pub(crate) fn retain<T>(meta: &RequestMeta, items: &mut Vec<T>, group: impl Fn(&T) -> &str) {
    if scoped(meta) {
        items.retain(|i| visible(meta, group(i)));
    }
}

/// `Ok` for a token scoped to every group (or no authentication); else 403 naming the token:
/// `what` shows every group's state and cannot be cut to a scope.
pub(crate) fn require_every_group(meta: &RequestMeta, what: &str) -> Result<(), ApiError> {
    match &meta.principal {
        Some(p) if p.groups != GroupScope::Any => Err(ApiError::Forbidden {
            reason: format!(
                "{what} concern every negotiating group; token {:?} may use only {} \
                 (a token with groups = [\"*\"] may read them)",
                p.name,
                p.groups.to_list().join(", ")
            ),
            token: Some(p.name.clone()),
            right: None,
            group: None,
        }),
        _ => Ok(()),
    }
}

/// The answer for a subset the request may not see: the same as for no subset there
/// (`errors.rs`, `CommandError::UnknownSubset`).
pub(crate) fn no_subset(address: std::net::IpAddr) -> ApiError {
    ApiError::NotFound {
        resource: format!("subset {address}"),
    }
}

/// The answer for a BIER lease the request may not see: the same as for no lease there.
pub(crate) fn no_bier_lease(address: std::net::IpAddr) -> ApiError {
    ApiError::NotFound {
        resource: format!("BIER lease {address}"),
    }
}

/// A claim or a block, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lease {
    Claim(u64),
    Block(u64),
}

impl Lease {
    fn expired(self) -> ApiError {
        ApiError::ClaimExpired {
            id: match self {
                Lease::Claim(id) => ClaimId(id).to_string(),
                Lease::Block(id) => BlockId(id).to_string(),
            },
        }
    }

    fn what(self) -> String {
        match self {
            Lease::Claim(id) => format!("claim {}", ClaimId(id)),
            Lease::Block(id) => format!("block {}", BlockId(id)),
        }
    }
}

/// The owner a claim or block taken by this request gets: its token's name (`None` without
/// tokens).
pub(crate) fn owner(meta: &RequestMeta) -> Option<String> {
    meta.principal.as_ref().map(|p| p.name.clone())
}

/// What the core holds of a live claim or block: its group and its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) group: String,
    pub(crate) owner: Option<String>,
}

/// Whether the request may renew or release `lease`, as the core holds it (`None`: not
/// live). Not live or of a group out of scope: the core's answer for a lease that is not
/// live; another token's: 403.
pub(crate) fn check_lease(
    meta: &RequestMeta,
    lease: Lease,
    held: Option<&Held>,
) -> Result<(), ApiError> {
    let Some(p) = &meta.principal else {
        return Ok(());
    };
    let (group, owner) = match held {
        Some(h) if p.groups.allows(&h.group) => (h.group.as_str(), h.owner.as_deref()),
        // Either the core answers the same for it, or it must not learn that it exists.
        _ => return Err(lease.expired()),
    };
    p.check(Some(Right::Claims), Some(group))?;
    match owner {
        Some(owner) if owner != p.name && !p.has(Right::Admin) => Err(ApiError::Forbidden {
            reason: format!(
                "{} of group {group:?} is held by token {owner:?}; token {:?} may not renew or \
                 release it (only its holder or a token with the admin right may)",
                lease.what(),
                p.name
            ),
            token: Some(p.name.clone()),
            right: None,
            group: Some(group.to_owned()),
        }),
        _ => Ok(()),
    }
}

/// Whether the request may delete `what` (a subset or BIER lease, named as in problems) of
/// `group` that `owner` created; the caller has checked that the group is visible. Another
/// token's, without the `admin` right: 403 naming the token, the group and the owner.
pub(crate) fn check_owner(
    meta: &RequestMeta,
    what: &str,
    group: &str,
    owner: Option<&str>,
) -> Result<(), ApiError> {
    let Some(p) = &meta.principal else {
        return Ok(());
    };
    match owner {
        Some(owner) if owner != p.name && !p.has(Right::Admin) => Err(ApiError::Forbidden {
            reason: format!(
                "{what} of group {group:?} was created by token {owner:?}; token {:?} may not \
                 delete it (only its creator or a token with the admin right may)",
                p.name
            ),
            token: Some(p.name.clone()),
            right: None,
            group: Some(group.to_owned()),
        }),
        _ => Ok(()),
    }
}

/// The group and owner of a live claim or block (`None` when it is not live).
pub(super) async fn lease_holder(
    svc: &TsmdService,
    lease: Lease,
) -> Result<Option<Held>, ApiError> {
    svc.query(move |v| match lease {
        Lease::Claim(id) => v.ctl.claim(id).map(|c| Held {
            group: c.group,
            owner: c.owner,
        }),
        Lease::Block(id) => v
            .ctl
            .blocks()
            .into_iter()
            .find(|b| b.id == id)
            .map(|b| Held {
                group: b.group,
                owner: b.owner,
            }),
    })
    .await
}

/// [`check_lease`] against the core's view of `lease` (skipped without a token, and for an
/// admin token of every group, which may touch any lease: no extra trip to the core).
pub(super) async fn guard_lease(
    svc: &TsmdService,
    meta: &RequestMeta,
    lease: Lease,
) -> Result<(), ApiError> {
    let unrestricted = meta
        .principal
        .as_ref()
        .is_none_or(|p| p.has(Right::Admin) && p.groups == GroupScope::Any);
    if unrestricted {
        return Ok(());
    }
    let held = lease_holder(svc, lease).await?;
    check_lease(meta, lease, held.as_ref())
}

/// Tells the event log's scope filter which group each live subset, claim and block of the
/// restored core belongs to (their later events name only an address or an id).
pub(crate) fn seed_events(log: &EventLog, ctl: &Controller) {
    let (subsets, claims, blocks) = (ctl.subsets(), ctl.claims(), ctl.blocks());
    log.learn(|scopes| {
        for s in &subsets {
            scopes.learn_subset(s.addr, &s.group);
        }
        for c in &claims {
            scopes.learn_claim(c.id, &c.group);
        }
        for b in &blocks {
            scopes.learn_block(b.id, &b.group);
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use api::Principal;

    use super::*;

    fn meta(name: &str, groups: &[&str], rights: &[Right]) -> RequestMeta {
        let mut m = RequestMeta::new();
        m.principal = Some(Arc::new(Principal {
            name: name.to_owned(),
            groups: GroupScope::from_list(groups).unwrap(),
            rights: rights.iter().copied().collect(),
        }));
        m
    }

    #[test]
    fn lists_keep_only_groups_in_scope() {
        let mut items = vec!["g1", "g2", "g1", "g3"];
        retain(&meta("a", &["g1", "g3"], &[]), &mut items, |s| s);
        assert_eq!(items, ["g1", "g1", "g3"]);
        let mut all = vec!["g1", "g2"];
        retain(&meta("ops", &["*"], &[Right::Admin]), &mut all, |s| s);
        retain(&RequestMeta::new(), &mut all, |s| s);
        assert_eq!(all, ["g1", "g2"]);
        assert!(require_every_group(&meta("a", &["g1"], &[Right::Admin]), "x").is_err());
        assert!(require_every_group(&meta("ops", &["*"], &[]), "x").is_ok());
    }

    #[test]
    fn leases_belong_to_their_taker() {
        let a = meta("a", &["g1"], &[Right::Claims]);
        let a2 = meta("a2", &["g1"], &[Right::Claims]);
        let b = meta("b", &["g2"], &[Right::Claims]);
        let admin = meta("ops", &["*"], &[Right::Admin]);
        let c = Lease::Claim(7);
        let held = |owner: Option<&str>| Held {
            group: "g1".into(),
            owner: owner.map(str::to_owned),
        };
        let by_a = held(owner(&a).as_deref());
        assert_eq!(by_a.owner.as_deref(), Some("a"));
        assert!(check_lease(&a, c, Some(&by_a)).is_ok());
        assert!(check_lease(&admin, c, Some(&by_a)).is_ok());
        // Same group, other token: 403 naming both.
        let e = check_lease(&a2, c, Some(&by_a)).unwrap_err();
        assert!(
            matches!(&e, ApiError::Forbidden { token: Some(t), group: Some(g), reason, .. }
                if t == "a2" && g == "g1" && reason.contains("\"a\"")),
            "{e:?}"
        );
        // Other group: answered like a claim that is not live.
        let hidden = check_lease(&b, c, Some(&by_a)).unwrap_err();
        assert_eq!(hidden, check_lease(&b, c, None).unwrap_err());
        assert!(matches!(hidden, ApiError::ClaimExpired { .. }));
        // No owner (taken without tokens, or an old record): its group decides.
        assert_eq!(owner(&RequestMeta::new()), None);
        assert!(check_lease(&a2, Lease::Block(7), Some(&held(None))).is_ok());
        assert!(check_lease(&b, Lease::Block(7), Some(&held(None))).is_err());
    }

    #[test]
    fn subsets_and_bier_leases_belong_to_their_creator() {
        let a = meta("a", &["g1"], &[Right::Subsets]);
        let a2 = meta("a2", &["g1"], &[Right::Subsets]);
        let admin = meta("ops", &["*"], &[Right::Admin]);
        let what = "subset 239.1.0.1";
        assert!(check_owner(&a, what, "g1", Some("a")).is_ok());
        assert!(check_owner(&admin, what, "g1", Some("a")).is_ok());
        assert!(check_owner(&RequestMeta::new(), what, "g1", Some("a")).is_ok());
        let e = check_owner(&a2, what, "g1", Some("a")).unwrap_err();
        assert!(
            matches!(&e, ApiError::Forbidden { token: Some(t), group: Some(g), reason, .. }
                if t == "a2" && g == "g1" && reason.contains("\"a\"") && reason.contains(what)),
            "{e:?}"
        );
        // No owner (created without tokens, or an old snapshot): its group decides.
        assert!(check_owner(&a2, what, "g1", None).is_ok());
    }
}
