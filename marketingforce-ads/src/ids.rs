//! Typed ids of the ads domain (prefixed UUIDv7s, see `marketingforce_core::id`).

use marketingforce_core::entity_id;

entity_id! {
    /// Identifies an advertising customer (a direct advertiser or an agency).
    pub struct CustomerId("adcust");
}

entity_id! {
    /// Identifies a framework agreement with a customer.
    pub struct AgreementId("adagr");
}

entity_id! {
    /// Identifies a media platform.
    pub struct PlatformId("plat");
}

entity_id! {
    /// Identifies an agreement with a media platform.
    pub struct PlatformAgreementId("platagr");
}

entity_id! {
    /// Identifies an ad account (one customer on one platform).
    pub struct AdAccountId("adacct");
}

entity_id! {
    /// Identifies a top-up of an ad account.
    pub struct TopUpId("topup");
}

entity_id! {
    /// Identifies a campaign.
    pub struct CampaignId("camp");
}

entity_id! {
    /// Identifies a creative (an ad's content).
    pub struct CreativeId("creative");
}

entity_id! {
    /// Identifies a placement of a creative in a campaign.
    pub struct PlacementId("placement");
}

entity_id! {
    /// Identifies a customer receipt (a collection).
    pub struct ReceiptId("receipt");
}
