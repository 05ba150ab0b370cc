//! Optimisation and monitoring: the channel mix by Thompson sampling, volume and frequency from
//! results, remarketing audiences, EWMA alerts on daily metrics, and inquiries handed to the CRM
//! as leads.

mod alerts;
mod bandit;
mod leads;
mod remarketing;

pub use alerts::{Alert, Direction, EwmaConfig, EwmaDetector, MetricMonitor};
pub use bandit::{frequency, Arm, ChannelBandit, VolumePolicy};
pub use leads::{
    Delivery, ForwardReport, Inquiry, InquiryForwarder, InquiryRecord, LeadReceipt, LeadSink,
    MemoryLeadSink,
};
pub use remarketing::{build_audiences, AudienceRule, VisitorAction, VisitorEvent};
