//! Money, rates and quantities.
//!
//! - [`Money`]: an exact decimal amount in one [`Currency`] (CNY by default), with checked
//!   arithmetic, named [`RoundingMode`]s and exact splitting ([`Money::allocate`],
//!   [`Money::allocate_by_weights`]).
//! - [`Rate`]: a validated fraction in [0, 1], parsed from `"5.8%"` or `"0.058"`.
//! - [`Quantity`]: a whole number of usage units.
//!
//! None of them ever holds a float; all serialise losslessly as decimal strings (or integers,
//! for quantities).

mod allocate;
mod amount;
mod currency;
mod quantity;
mod rate;

pub use amount::{parse_decimal, Money, RoundingMode, MAX_DECIMAL_DIGITS};
pub use currency::Currency;
pub use quantity::Quantity;
pub use rate::Rate;
pub use rust_decimal::Decimal;
