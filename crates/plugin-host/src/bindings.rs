//! `bindgen!` of the WIT contract and conversions between the generated
//! types and the host model in [`crate::model`].

#![allow(missing_docs)]

use crate::model;

wasmtime::component::bindgen!({
    path: "../../plugins/wit",
    world: "full-step",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub(crate) use switchyard::plugin::types as wit;
use switchyard::plugin::{cmdb as wit_cmdb, directory as wit_dir, tickets as wit_tickets};

impl From<model::Status> for wit::Status {
    fn from(s: model::Status) -> Self {
        match s {
            model::Status::New => wit::Status::New,
            model::Status::Assigned => wit::Status::Assigned,
            model::Status::InProgress => wit::Status::InProgress,
            model::Status::Pending => wit::Status::Pending,
            model::Status::Resolved => wit::Status::Resolved,
            model::Status::Closed => wit::Status::Closed,
            model::Status::Cancelled => wit::Status::Cancelled,
        }
    }
}

impl From<wit::Status> for model::Status {
    fn from(s: wit::Status) -> Self {
        match s {
            wit::Status::New => model::Status::New,
            wit::Status::Assigned => model::Status::Assigned,
            wit::Status::InProgress => model::Status::InProgress,
            wit::Status::Pending => model::Status::Pending,
            wit::Status::Resolved => model::Status::Resolved,
            wit::Status::Closed => model::Status::Closed,
            wit::Status::Cancelled => model::Status::Cancelled,
        }
    }
}

impl From<model::Channel> for wit::Channel {
    fn from(c: model::Channel) -> Self {
        match c {
            model::Channel::Portal => wit::Channel::Portal,
            model::Channel::Email => wit::Channel::Email,
            model::Channel::Api => wit::Channel::Api,
            model::Channel::Alert => wit::Channel::Alert,
            model::Channel::Phone => wit::Channel::Phone,
            model::Channel::Chat => wit::Channel::Chat,
        }
    }
}

impl From<&model::Ticket> for wit::Ticket {
    fn from(t: &model::Ticket) -> Self {
        wit::Ticket {
            number: t.number.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
            requester: t.requester.clone(),
            channel: t.channel.into(),
            category: t.category.clone(),
            subcategory: t.subcategory.clone(),
            service: t.service,
            affected_cis: t.affected_cis.clone(),
            impact: t.impact,
            urgency: t.urgency,
            priority: t.priority,
            status: t.status.into(),
            pending_reason: t.pending_reason.clone(),
            assignment_group: t.assignment_group.clone(),
            assignee: t.assignee.clone(),
            escalation_level: t.escalation_level,
            watchers: t.watchers.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
            custom_fields: t.custom_fields.to_string(),
        }
    }
}

fn sla(e: &model::SlaEvent) -> wit::SlaEvent {
    wit::SlaEvent {
        target: match e.target {
            model::SlaTarget::Response => wit::SlaTarget::Response,
            model::SlaTarget::Resolution => wit::SlaTarget::Resolution,
        },
        percent: e.percent,
        due_at: e.due_at,
    }
}

impl From<&model::Trigger> for wit::Trigger {
    fn from(t: &model::Trigger) -> Self {
        match t {
            model::Trigger::TicketCreated => wit::Trigger::TicketCreated,
            model::Trigger::TicketUpdated(fields) => wit::Trigger::TicketUpdated(fields.clone()),
            model::Trigger::SlaWarning(e) => wit::Trigger::SlaWarning(sla(e)),
            model::Trigger::SlaBreached(e) => wit::Trigger::SlaBreached(sla(e)),
            model::Trigger::Cron(c) => wit::Trigger::Cron(wit::CronTick { schedule: c.schedule.clone(), scheduled_at: c.scheduled_at }),
            model::Trigger::Manual(who) => wit::Trigger::Manual(who.clone()),
            model::Trigger::InboundChannel(name) => wit::Trigger::InboundChannel(name.clone()),
        }
    }
}

impl From<&model::StepInput> for wit::StepInput {
    fn from(i: &model::StepInput) -> Self {
        let c = &i.context;
        wit::StepInput {
            context: wit::StepContext {
                workflow_id: c.workflow_id.clone(),
                workflow_version: c.workflow_version,
                run_id: c.run_id.clone(),
                step_id: c.step_id.clone(),
                attempt: c.attempt,
                deadline: c.deadline,
                now: c.now,
            },
            trigger: (&i.trigger).into(),
            ticket: i.ticket.as_ref().map(Into::into),
            config: i.config.to_string(),
            previous: i.previous.iter().map(|p| wit::StepOutput { step_id: p.step_id.clone(), output: p.output.to_string() }).collect(),
        }
    }
}

fn parse_json(what: &str, text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what} is not valid JSON: {e}"))
}

impl TryFrom<wit::Action> for model::Action {
    type Error = String;

    fn try_from(a: wit::Action) -> Result<Self, String> {
        Ok(match a {
            wit::Action::SetField(f) => model::Action::SetField(model::FieldValue {
                value: parse_json(&format!("set-field `{}` value", f.field), &f.value)?,
                field: f.field,
            }),
            wit::Action::SetPriority(p) => model::Action::SetPriority(model::PriorityChange { priority: p.priority, reason: p.reason }),
            wit::Action::SetStatus(s) => model::Action::SetStatus(model::StatusChange { status: s.status.into(), reason: s.reason }),
            wit::Action::AssignGroup(group) => model::Action::AssignGroup { group },
            wit::Action::AssignUser(user) => model::Action::AssignUser { user },
            wit::Action::AddWorkNote(text) => model::Action::AddWorkNote { text },
            wit::Action::AddComment(text) => model::Action::AddComment { text },
            wit::Action::LinkCi(ci) => model::Action::LinkCi { ci },
            wit::Action::Notify(n) => model::Action::Notify(model::Notification {
                channel: n.channel,
                recipients: n.recipients,
                subject: n.subject,
                body: n.body,
            }),
            wit::Action::Escalate(e) => model::Action::Escalate(model::Escalation { level: e.level, group: e.group, reason: e.reason }),
        })
    }
}

impl From<wit::StepError> for model::StepError {
    fn from(e: wit::StepError) -> Self {
        match e {
            wit::StepError::InvalidConfig(m) => model::StepError::InvalidConfig(m),
            wit::StepError::Retryable(m) => model::StepError::Retryable(m),
            wit::StepError::Fatal(m) => model::StepError::Fatal(m),
        }
    }
}

impl From<model::Ci> for wit_cmdb::Ci {
    fn from(c: model::Ci) -> Self {
        wit_cmdb::Ci {
            id: c.id,
            class: c.class,
            name: c.name,
            status: c.status,
            owner_group: c.owner_group,
            attributes: c.attributes.to_string(),
        }
    }
}

impl From<model::RelatedCi> for wit_cmdb::RelatedCi {
    fn from(r: model::RelatedCi) -> Self {
        wit_cmdb::RelatedCi { ci: r.ci.into(), relation: r.relation, depth: r.depth }
    }
}

impl From<wit_cmdb::Direction> for model::CiDirection {
    fn from(d: wit_cmdb::Direction) -> Self {
        match d {
            wit_cmdb::Direction::Upstream => model::CiDirection::Upstream,
            wit_cmdb::Direction::Downstream => model::CiDirection::Downstream,
        }
    }
}

impl From<&model::TicketLink> for wit_tickets::Link {
    fn from(l: &model::TicketLink) -> Self {
        wit_tickets::Link { link_type: l.link_type.clone(), end: l.end.clone(), number: l.number.clone(), kind: l.kind.clone() }
    }
}

impl From<wit_tickets::Query> for model::TicketQuery {
    fn from(q: wit_tickets::Query) -> Self {
        model::TicketQuery {
            status: q.status.map(Into::into),
            assignment_group: q.assignment_group,
            assignee: q.assignee,
            requester: q.requester,
            limit: q.limit,
        }
    }
}

impl From<model::Group> for wit_dir::Group {
    fn from(g: model::Group) -> Self {
        wit_dir::Group { name: g.name, display_name: g.display_name, email: g.email, manager: g.manager }
    }
}

impl From<model::Agent> for wit_dir::Agent {
    fn from(a: model::Agent) -> Self {
        wit_dir::Agent {
            username: a.username,
            display_name: a.display_name,
            email: a.email,
            on_shift: a.on_shift,
            open_tickets: a.open_tickets,
            skills: a.skills,
        }
    }
}
