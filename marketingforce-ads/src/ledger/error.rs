//! Why the ledger refused an account or a transfer.

use marketingforce_core::money::Currency;

use super::ids::{AccountId, TransferId};

/// Why an account could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// Zero is reserved.
    #[error("account id must not be zero")]
    IdMustNotBeZero,
    /// Both balance constraints at once would freeze the account at zero.
    #[error("account {0} cannot have both balance constraints")]
    ConflictingFlags(AccountId),
    /// The id exists with other attributes.
    #[error("account {0} already exists with different attributes")]
    ExistsWithDifferentContent(AccountId),
}

/// Why a transfer was refused. Nothing of a refused transfer (or of its atomic batch) is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// Zero is reserved.
    #[error("transfer id must not be zero")]
    IdMustNotBeZero,
    /// The id was used for a transfer with different content.
    #[error("transfer {0} already exists with different content")]
    ExistsWithDifferentContent(TransferId),
    /// The same id appears twice in one batch with different content.
    #[error("transfer {0} appears twice in the batch with different content")]
    DuplicateInBatch(TransferId),
    /// Fewer than two legs (or more than the maximum).
    #[error("a transfer needs 2 to {max} legs, got {count}")]
    LegCount {
        /// Legs given.
        count: usize,
        /// The maximum.
        max: usize,
    },
    /// A leg of zero.
    #[error("legs[{leg}] has a zero amount")]
    ZeroAmount {
        /// Index of the leg.
        leg: usize,
    },
    /// A leg names an account that does not exist.
    #[error("legs[{leg}]: account {account} does not exist")]
    AccountNotFound {
        /// Index of the leg.
        leg: usize,
        /// The account.
        account: AccountId,
    },
    /// A leg's currency is not its account's.
    #[error(
        "legs[{leg}]: amount in {leg_currency} but account {account} is in {account_currency}"
    )]
    CurrencyMismatch {
        /// Index of the leg.
        leg: usize,
        /// The account.
        account: AccountId,
        /// The account's currency.
        account_currency: Currency,
        /// The leg's currency.
        leg_currency: Currency,
    },
    /// One account is both debited and credited by the transfer.
    #[error("account {0} is both debited and credited by one transfer")]
    AccountOnBothSides(AccountId),
    /// Debits and credits differ in a currency.
    #[error("legs do not balance in {currency}: debits {debits}, credits {credits} (minor units)")]
    Unbalanced {
        /// The currency.
        currency: Currency,
        /// Sum of debits.
        debits: u128,
        /// Sum of credits.
        credits: u128,
    },
    /// Posting would let debits exceed credits on a constrained account.
    #[error("account {0} does not allow debits to exceed credits")]
    ExceedsCredits(AccountId),
    /// Posting would let credits exceed debits on a constrained account.
    #[error("account {0} does not allow credits to exceed debits")]
    ExceedsDebits(AccountId),
    /// A balance would overflow.
    #[error("a balance of account {0} would overflow")]
    Overflow(AccountId),
    /// A post or void names an unknown transfer.
    #[error("pending transfer {0} does not exist")]
    PendingNotFound(TransferId),
    /// A post or void names a transfer that is not pending.
    #[error("transfer {0} is not a pending transfer")]
    NotPending(TransferId),
    /// The pending transfer was already posted.
    #[error("pending transfer {pending} was already posted by {by}")]
    AlreadyPosted {
        /// The pending transfer.
        pending: TransferId,
        /// The transfer that posted it.
        by: TransferId,
    },
    /// The pending transfer was already voided.
    #[error("pending transfer {pending} was already voided by {by}")]
    AlreadyVoided {
        /// The pending transfer.
        pending: TransferId,
        /// The transfer that voided it.
        by: TransferId,
    },
    /// A post or void carried legs of its own.
    #[error("a post or void of a pending transfer carries no legs")]
    LegsNotAllowed,
    /// A journal replay found timestamps out of order (a corrupted journal).
    #[error("transfer {0} has a timestamp before the previous transfer's")]
    TimestampRegressed(TransferId),
}
