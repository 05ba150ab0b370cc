//! What WeChat Official Accounts and WeCom share on the wire (feature `wechat-crypto`): the
//! WXBizMsgCrypt callback scheme ([`CallbackCrypto`]) and the small XML dialect of their
//! callbacks ([`xml`]).
//!
//! It lives in core so that the content crate (the Official Account channel and its
//! publish-result callback) and the CRM crate (the WeCom callback endpoint) share one audited
//! implementation of a security-sensitive scheme without depending on each other; the feature
//! keeps the cipher crates (`aes`, `cbc`, `sha1`, `base64`, all RustCrypto or widely audited)
//! out of builds that do not need them. Access tokens are handled by the platform-neutral
//! [`token`](crate::adapters::token) module.

mod crypto;
pub mod xml;

pub use crypto::{plain_signature, CallbackCrypto, CallbackQuery, PAD_BLOCK};
