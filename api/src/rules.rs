//! The body of `GET /v1/switches/{dpid}/rules`: the flows and groups tsmd keeps on one
//! switch, for operators (`tsmctl rules DPID`).
//!
//! The rules are the controller's record of what it installed and acknowledged (every change
//! is confirmed by a barrier reply, and reconciliation re-reads the switch's tables with
//! multipart requests after every (re)connection and corrects any difference), so they are
//! what the switch holds for tsmd's cookies. Flows and groups of other controllers are not
//! listed. Matches and actions are written as `ovs-ofctl` writes them (`ipv4_dst=239.2.0.1`,
//! `group:7`), so the two can be compared by eye.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::bier::DpidParam;
use crate::error::{ApiError, Problem, PROBLEM_JSON};
use crate::meta::RequestMeta;
use crate::service::Service;
use crate::types::Dpid;

/// The rules of one switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SwitchRules {
    /// The switch.
    pub dpid: Dpid,
    /// Where the list comes from: `controller` (tsmd's acknowledged record).
    pub source: String,
    /// Flows, by table, then priority (highest first), then match.
    pub flows: Vec<FlowRule>,
    /// Groups, by id.
    pub groups: Vec<GroupRule>,
}

/// One flow entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FlowRule {
    /// The table.
    pub table: u8,
    /// The priority.
    pub priority: u16,
    /// The cookie: the transaction's trace id (16 hex digits).
    pub cookie: String,
    /// The match, `field=value` joined by commas (`eth_type=0x0800,ipv4_dst=239.2.0.1`);
    /// empty for "every packet".
    #[serde(rename = "match")]
    pub match_: String,
    /// The actions, joined by commas (`group:7`, `output:3`, `CONTROLLER:65535`).
    pub actions: String,
    /// The hard timeout in seconds as the flow would be installed now: what is left of its
    /// lease (0: none).
    pub hard_timeout: u16,
    /// The idle timeout, in seconds (0: none).
    pub idle_timeout: u16,
}

/// One group entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupRule {
    /// The group id.
    pub group_id: u32,
    /// The group type (`all`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The output port of each bucket.
    pub buckets: Vec<u32>,
}

/// The answer of a service that does not list rules.
pub(crate) fn not_implemented() -> ApiError {
    ApiError::Internal {
        reason: "listing a switch's rules is not implemented by this service".to_owned(),
    }
}

/// The flows and groups tsmd keeps on a switch.
#[utoipa::path(
    get, path = "/v1/switches/{dpid}/rules", tag = "fabric",
    params(("dpid" = Dpid, Path, description = "Datapath id")),
    responses(
        (status = 200, description = "The switch's flows and groups", body = SwitchRules),
        (status = 400, description = "Not a datapath id (bad-path-parameter)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 404, description = "No such switch (not-found)", body = Problem,
            content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn switch_rules<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    DpidParam(dpid): DpidParam,
) -> Result<Json<SwitchRules>, ApiError> {
    svc.switch_rules(meta, dpid).await.map(Json)
}
