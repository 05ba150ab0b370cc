//! Typed identifiers of the CRM's entities (UUIDv7 with a text prefix, see
//! [`marketingforce_core::entity_id!`]).

use marketingforce_core::entity_id;

entity_id! {
    /// Identifies a lead (a prospect or customer, after dedupe: one per person).
    pub struct LeadId("lead");
}

entity_id! {
    /// Identifies a staff member: salesperson, manager, administrator or dealer account.
    pub struct UserId("user");
}

entity_id! {
    /// Identifies a sales team.
    pub struct TeamId("team");
}

entity_id! {
    /// Identifies a social-fission campaign.
    pub struct CampaignId("fission");
}

entity_id! {
    /// Identifies a membership program.
    pub struct ProgramId("program");
}

entity_id! {
    /// Identifies an SOP template.
    pub struct SopId("sop");
}

entity_id! {
    /// Identifies an SOP task (one step of an SOP for one lead or group).
    pub struct TaskId("task");
}

entity_id! {
    /// Identifies a group chat (community) managed by community SOPs.
    pub struct GroupId("group");
}

entity_id! {
    /// Identifies a phrase or material of the conversation library.
    pub struct MaterialId("material");
}
