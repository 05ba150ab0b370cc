//! Pricing: price schedules for usage packs ([`PriceSchedule`]) and the quote engine
//! ([`QuoteEngine`]) that prices a basket for a term — bundle or accounts, add-on modules,
//! extra seats, usage packs — or an amendment mid-term with proration by day, explaining every
//! line. Quotes record the price-list versions and their inputs, so they are reproducible
//! ([`QuoteEngine::reprice`]).
//!
//! Rounding: a yearly price is scaled to the term (`× months / 12`) and rounded half-up to the
//! fen; a mid-term purchase is that full-term price `× days left / days in the term`, rounded
//! half-up, so it never exceeds the full price.

mod quote;
mod schedule;

pub use quote::{
    prorate, AmendmentRequest, LineKind, PackLine, Quote, QuoteEngine, QuoteLine, QuoteRequest,
    SeatLine, Term,
};
pub use schedule::{PriceSchedule, SchedulePrice, Tier};
