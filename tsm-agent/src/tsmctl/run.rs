//! Runs one parsed `tsmctl` command against the controllers and renders its answer: the
//! DTO as JSON (`--json`) or as a table.
//!
//! With `--json` the answer is the DTO serialised again with the API's own serde forms, so
//! it is the API's JSON (members this client does not know yet are not kept); deletes print
//! nothing, as the API answers 204 without a body.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::{
    Block, CallOptions, Claim, Group, GroupName, GroupSpec, Host, Link, PlanState, RendezvousPlan,
    RendezvousRequest, Subset, SubsetRequest, Switch, SwitchRules,
};
use serde::Serialize;

use super::cli::{Cli, Command, GroupCommand, RendezvousCommand, SubsetCommand};
use super::failover::{Controllers, CtlError};
use super::progress::{self, Progress};
use super::table::{duration_ms, remaining, short_list, utc, Table};

/// Runs `cli` and returns what to print on standard output.
pub async fn run(cli: &Cli) -> Result<String, CtlError> {
    let mut ctl = Controllers::new(
        &cli.urls,
        cli.token.as_deref(),
        Duration::from_millis(cli.timeout_ms.max(1)),
    )?;
    let json = cli.json;
    match &cli.command {
        Command::Switches => {
            let list = ctl.call(|c| async move { c.switches().await }).await?;
            render(json, list.as_slice(), switches_table)
        }
        Command::Links => {
            let list = ctl.call(|c| async move { c.links().await }).await?;
            render(json, list.as_slice(), links_table)
        }
        Command::Hosts => {
            let list = ctl.call(|c| async move { c.hosts().await }).await?;
            render(json, list.as_slice(), hosts_table)
        }
        Command::Groups => {
            let list = ctl.call(|c| async move { c.groups().await }).await?;
            render(json, list.as_slice(), groups_table)
        }
        Command::Subsets => {
            let list = ctl.call(|c| async move { c.subsets().await }).await?;
            render(json, list.as_slice(), subsets_table)
        }
        Command::Plans => {
            let list = ctl
                .call(|c| async move { c.rendezvous_plans().await })
                .await?;
            render(json, list.as_slice(), plans_table)
        }
        Command::Claims => {
            let list = ctl.call(|c| async move { c.claims().await }).await?;
            render(json, list.as_slice(), claims_table)
        }
        Command::Blocks => {
            let list = ctl.call(|c| async move { c.blocks().await }).await?;
            render(json, list.as_slice(), blocks_table)
        }
        Command::Rendezvous(cmd) => rendezvous(&mut ctl, json, cmd).await,
        Command::Rules { dpid } => {
            let dpid = *dpid;
            let rules = ctl
                .call(|c| async move { c.switch_rules(dpid).await })
                .await?;
            render(json, &rules, rules_text)
        }
        Command::Health => {
            let health = ctl.call(|c| async move { c.healthz().await }).await?;
            render(json, &health, |h| {
                format!("{} (tsmd {})\n", h.status, h.version)
            })
        }
        Command::Group(GroupCommand::Get { name }) => {
            let group = ctl.call(|c| async move { c.group(name).await }).await?;
            render(json, &group, |g| groups_table(std::slice::from_ref(g)))
        }
        Command::Group(GroupCommand::Put { name, spec }) => {
            let spec = GroupSpec {
                address: spec.address,
                members: spec.members.clone().into(),
            };
            let spec = &spec;
            let upsert = ctl
                .call(|c| async move { c.put_group(name, spec).await })
                .await?;
            let verb = if upsert.created() {
                "created"
            } else {
                "replaced"
            };
            let group = upsert.into_inner();
            render(json, &group, |g| {
                format!(
                    "{verb} group {}\n{}",
                    g.name,
                    groups_table(std::slice::from_ref(g))
                )
            })
        }
        Command::Group(GroupCommand::Delete { name }) => {
            ctl.call(|c| async move { c.delete_group(name).await })
                .await?;
            Ok(deleted(json, format!("deleted group {name}")))
        }
        Command::Subset(SubsetCommand::Create {
            group,
            members,
            lease_ms,
        }) => {
            let req = SubsetRequest {
                members: members.clone(),
                lease_ms: *lease_ms,
            };
            // One key for every controller tried: a retry after a lost answer must not
            // install a second subset (issue 5, Idempotency-Key).
            let options = CallOptions::new().idempotency_key(idempotency_key());
            let (req, options) = (&req, &options);
            let subset = ctl
                .call(|c| async move { c.create_subset_with(group, req, options).await })
                .await?;
            render(json, &subset, |s| subsets_table(std::slice::from_ref(s)))
        }
        Command::Subset(SubsetCommand::Get { address }) => {
            let address = *address;
            let subset = ctl.call(|c| async move { c.subset(address).await }).await?;
            render(json, &subset, |s| subsets_table(std::slice::from_ref(s)))
        }
        Command::Subset(SubsetCommand::Delete { address }) => {
            let address = *address;
            ctl.call(|c| async move { c.delete_subset(address).await })
                .await?;
            Ok(deleted(json, format!("deleted subset {address}")))
        }
    }
}

/// A key unique to this invocation: the process id and the time in ns.
fn idempotency_key() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("tsmctl-{}-{nanos:x}", std::process::id())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

fn deleted(json: bool, message: String) -> String {
    if json {
        String::new()
    } else {
        message + "\n"
    }
}

fn render<T: Serialize + ?Sized>(
    json: bool,
    value: &T,
    table: impl FnOnce(&T) -> String,
) -> Result<String, CtlError> {
    if json {
        let mut text =
            serde_json::to_string_pretty(value).map_err(|e| CtlError::Output(e.to_string()))?;
        text.push('\n');
        Ok(text)
    } else {
        Ok(table(value))
    }
}

fn switches_table(list: &[Switch]) -> String {
    let mut t = Table::new(&[
        "DPID",
        "PEER",
        "CONNECTED",
        "PORTS",
        "UP",
        "TABLES",
        "MAX GROUPS",
        "BIER",
    ]);
    for s in list {
        let up = s
            .ports
            .iter()
            .filter(|p| p.state == api::LinkState::Up)
            .count();
        t.row(vec![
            s.dpid.to_string(),
            s.peer.clone().unwrap_or_else(|| "-".to_owned()),
            utc(s.connected_since),
            s.ports.len().to_string(),
            up.to_string(),
            s.capabilities.n_tables.to_string(),
            s.capabilities
                .max_groups
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            if s.capabilities.bier { "yes" } else { "no" }.to_owned(),
        ]);
    }
    t.render()
}

fn link_state(state: api::LinkState) -> &'static str {
    match state {
        api::LinkState::Up => "up",
        api::LinkState::Down => "down",
        _ => "unknown",
    }
}

fn links_table(list: &[Link]) -> String {
    let mut t = Table::new(&["A", "B", "STATE"]);
    for l in list {
        t.row(vec![
            format!("{}:{}", l.a.dpid, l.a.port),
            format!("{}:{}", l.b.dpid, l.b.port),
            link_state(l.state).to_owned(),
        ]);
    }
    t.render()
}

fn hosts_table(list: &[Host]) -> String {
    let mut t = Table::new(&["IP", "MAC", "DPID", "PORT"]);
    for h in list {
        t.row(vec![
            h.ip.to_string(),
            h.mac.to_string(),
            h.dpid.to_string(),
            h.port.to_string(),
        ]);
    }
    t.render()
}

fn groups_table(list: &[Group]) -> String {
    let mut t = Table::new(&["NAME", "ADDRESS", "VERSION", "SNOOPED", "N", "MEMBERS"]);
    for g in list {
        t.row(vec![
            g.name.to_string(),
            g.address.to_string(),
            g.version.to_string(),
            if g.snooped { "yes" } else { "no" }.to_owned(),
            g.members.len().to_string(),
            short_list(&g.members),
        ]);
    }
    t.render()
}

fn subsets_table(list: &[Subset]) -> String {
    let now = now_ms();
    let mut t = Table::new(&[
        "ADDRESS", "GROUP", "LEASE", "EXPIRES", "TRACE", "SWITCHES", "OWNER", "N", "MEMBERS",
    ]);
    for s in list {
        t.row(vec![
            s.address.to_string(),
            s.group.to_string(),
            duration_ms(s.lease_ms),
            remaining(s.expires_at, now),
            s.trace_id.to_string(),
            s.switches.len().to_string(),
            owner(s.owner.as_deref()),
            s.members.len().to_string(),
            short_list(&s.members),
        ]);
    }
    t.render()
}

/// `tsmctl rendezvous …`.
async fn rendezvous(
    ctl: &mut Controllers,
    json: bool,
    cmd: &RendezvousCommand,
) -> Result<String, CtlError> {
    match cmd {
        RendezvousCommand::Get { group } => {
            let plan = ctl
                .call(|c| async move { c.rendezvous(group).await })
                .await?;
            render(json, &plan, |p| plans_table(std::slice::from_ref(p)))
        }
        RendezvousCommand::Put {
            group,
            k,
            copies,
            base,
            no_wait,
        } => {
            let req = RendezvousRequest {
                k: *k,
                copies: *copies,
                base: *base,
            };
            let req = &req;
            let mut plan = ctl
                .call(|c| async move { c.put_rendezvous(group, req).await })
                .await?;
            if !no_wait {
                plan = wait_installed(ctl, group, plan).await?;
            }
            if plan.state == PlanState::Failed {
                return Err(CtlError::Failed(format!(
                    "the plan of group {group} failed: {}",
                    plan.error.as_deref().unwrap_or("no reason given")
                )));
            }
            render(json, &plan, |p| plans_table(std::slice::from_ref(p)))
        }
        RendezvousCommand::Delete { group } => {
            ctl.call(|c| async move { c.delete_rendezvous(group).await })
                .await?;
            Ok(deleted(
                json,
                format!("deleted the rendezvous plan of {group}"),
            ))
        }
    }
}

/// Polls the plan until it is no longer installing, drawing its progress on a terminal.
async fn wait_installed(
    ctl: &mut Controllers,
    group: &GroupName,
    mut plan: RendezvousPlan,
) -> Result<RendezvousPlan, CtlError> {
    let mut bar = Progress::stderr();
    while plan.state == PlanState::Installing {
        bar.draw(&progress::Step::of(&plan));
        tokio::time::sleep(Duration::from_millis(100)).await;
        plan = ctl
            .call(|c| async move { c.rendezvous(group).await })
            .await?;
    }
    bar.finish(&progress::Step::of(&plan));
    Ok(plan)
}

fn plan_state(state: PlanState) -> &'static str {
    match state {
        PlanState::Installing => "installing",
        PlanState::Ready => "ready",
        PlanState::Failed => "failed",
        PlanState::OverBudget => "over_budget",
        _ => "unknown",
    }
}

fn plans_table(list: &[RendezvousPlan]) -> String {
    let mut t = Table::new(&[
        "GROUP",
        "VERSION",
        "MEMBERS V",
        "N",
        "K",
        "COPIES",
        "BASE",
        "SUBSETS",
        "ADDRESSES",
        "STATE",
        "PROGRESS",
    ]);
    for p in list {
        let g = &p.progress;
        t.row(vec![
            p.group.to_string(),
            p.version.to_string(),
            p.members_version.to_string(),
            p.members.len().to_string(),
            p.k.to_string(),
            p.copies.to_string(),
            p.base.to_string(),
            p.subsets.to_string(),
            p.addresses.to_string(),
            plan_state(p.state).to_owned(),
            format!(
                "{}/{} switches, {}/{} messages",
                g.switches_done, g.switches_total, g.messages_done, g.messages_total
            ),
        ]);
    }
    let mut text = t.render();
    for p in list {
        if let Some(e) = &p.error {
            text.push_str(&format!("{}: {e}\n", p.group));
        }
    }
    text
}

/// The owner column: the token's name, `-` without tokens.
fn owner(name: Option<&str>) -> String {
    name.unwrap_or("-").to_owned()
}

fn claims_table(list: &[Claim]) -> String {
    let now = now_ms();
    let mut t = Table::new(&[
        "ID", "GROUP", "ADDRESS", "COPY", "PLAN V", "EXPIRES", "OWNER", "N", "MEMBERS",
    ]);
    for c in list {
        t.row(vec![
            c.id.to_string(),
            c.group.to_string(),
            c.address.to_string(),
            c.copy.to_string(),
            c.plan_version.to_string(),
            remaining(c.expires_at, now),
            owner(c.owner.as_deref()),
            c.members.len().to_string(),
            short_list(&c.members),
        ]);
    }
    t.render()
}

fn blocks_table(list: &[Block]) -> String {
    let now = now_ms();
    let mut t = Table::new(&[
        "ID",
        "GROUP",
        "BASE",
        "K",
        "COPIES",
        "PLAN V",
        "MEMBERS V",
        "EXPIRES",
        "OWNER",
        "N",
        "MEMBERS",
    ]);
    for b in list {
        t.row(vec![
            b.id.to_string(),
            b.group.to_string(),
            b.base.to_string(),
            b.k.to_string(),
            short_list(&b.copies),
            b.plan_version.to_string(),
            b.members_version.to_string(),
            remaining(b.expires_at, now),
            owner(b.owner.as_deref()),
            b.members.len().to_string(),
            short_list(&b.members),
        ]);
    }
    t.render()
}

/// Two tables: the flows, then the groups.
fn rules_text(r: &SwitchRules) -> String {
    let mut flows = Table::new(&["TABLE", "PRIORITY", "COOKIE", "HARD", "MATCH", "ACTIONS"]);
    for f in &r.flows {
        flows.row(vec![
            f.table.to_string(),
            f.priority.to_string(),
            f.cookie.clone(),
            if f.hard_timeout == 0 {
                "-".to_owned()
            } else {
                format!("{}s", f.hard_timeout)
            },
            if f.match_.is_empty() {
                "*".to_owned()
            } else {
                f.match_.clone()
            },
            f.actions.clone(),
        ]);
    }
    let mut groups = Table::new(&["GROUP", "TYPE", "BUCKETS", "PORTS"]);
    for g in &r.groups {
        groups.row(vec![
            g.group_id.to_string(),
            g.kind.clone(),
            g.buckets.len().to_string(),
            g.buckets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ]);
    }
    format!(
        "switch {} ({} flows, {} groups; source: {})\n{}\n{}",
        r.dpid,
        r.flows.len(),
        r.groups.len(),
        r.source,
        flows.render(),
        groups.render()
    )
}
