//! What WeCom answers about external contacts, their follow users, group chats and tags.
//!
//! Enumerations carry an `Unknown` case holding the value the platform sent, so a value added
//! by the platform later is kept and reported rather than failing the whole answer. Types
//! holding a customer's personal data (names, ids, remarks, mobiles) print only what is safe
//! in `Debug`.

use std::fmt;

use serde::{Deserialize, Deserializer};

macro_rules! coded_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $code:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)*
            /// A value this SDK does not know, as sent.
            Unknown(i64),
        }

        impl $name {
            /// From the platform's code.
            pub fn from_code(code: i64) -> $name {
                match code {
                    $($code => $name::$var,)*
                    other => $name::Unknown(other),
                }
            }

            /// The platform's code.
            pub fn code(self) -> i64 {
                match self {
                    $($name::$var => $code,)*
                    $name::Unknown(c) => c,
                }
            }

            /// Whether the platform sent a value this SDK does not know.
            pub fn is_unknown(self) -> bool {
                matches!(self, $name::Unknown(_))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                i64::deserialize(d).map($name::from_code)
            }
        }
    };
}

coded_enum! {
    /// Whether an external contact is a WeChat user or a member of another WeCom corp.
    ContactType {
        /// 1: a WeChat user.
        WeChat = 1,
        /// 2: a WeCom user of another corp.
        WeCom = 2,
    }
}

coded_enum! {
    /// How a contact was added (`add_way`).
    AddWay {
        /// 0: unknown source.
        Unspecified = 0,
        /// 1: scanned a QR code.
        QrCode = 1,
        /// 2: searched a mobile number.
        MobileSearch = 2,
        /// 3: a shared business card.
        BusinessCard = 3,
        /// 4: a group chat.
        GroupChat = 4,
        /// 5: the mobile's address book.
        AddressBook = 5,
        /// 6: WeChat contacts.
        WeChatContacts = 6,
        /// 8: installed a third-party app.
        ThirdParty = 8,
        /// 9: searched an email.
        EmailSearch = 9,
        /// 10: video channel (视频号).
        Channels = 10,
        /// 201: shared by a colleague.
        SharedByColleague = 201,
        /// 202: assigned by an administrator.
        AssignedByAdmin = 202,
    }
}

coded_enum! {
    /// A group chat's status in `groupchat/list`.
    GroupStatus {
        /// 0: normal.
        Normal = 0,
        /// 1: the owner left the corp; awaiting transfer.
        OwnerLeft = 1,
        /// 2: being transferred.
        Transferring = 2,
        /// 3: transfer done.
        Transferred = 3,
    }
}

coded_enum! {
    /// Whether a group member is staff or an external contact.
    MemberType {
        /// 1: a member of the corp.
        Staff = 1,
        /// 2: an external contact.
        External = 2,
    }
}

coded_enum! {
    /// How a member joined a group.
    JoinScene {
        /// 1: invited by a member.
        Invited = 1,
        /// 2: through an invitation link.
        Link = 2,
        /// 3: scanned the group QR code.
        QrCode = 3,
    }
}

/// An external user id: personal data. `Debug` and `Display` show only its length.
#[derive(Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(transparent)]
pub struct ExternalUserId(pub String);

impl ExternalUserId {
    /// The id, to pass to the platform or the CRM (never to a log).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ExternalUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalUserId(<{} chars>)", self.0.len())
    }
}

/// The contact's own data (`external_contact`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct ExternalContact {
    /// The external user id.
    pub external_userid: ExternalUserId,
    /// WeChat nickname or WeCom name.
    #[serde(default)]
    pub name: Option<String>,
    /// WeChat user or WeCom user of another corp.
    #[serde(rename = "type", default = "unknown_type")]
    pub contact_type: ContactType,
    /// The other corp's short name (WeCom contacts).
    #[serde(default)]
    pub corp_name: Option<String>,
    /// The contact's position (WeCom contacts).
    #[serde(default)]
    pub position: Option<String>,
}

fn unknown_type() -> ContactType {
    ContactType::Unknown(0)
}

impl fmt::Debug for ExternalContact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalContact")
            .field("external_userid", &self.external_userid)
            .field("name", &self.name.as_ref().map(|_| "***"))
            .field("contact_type", &self.contact_type)
            .field("corp_name", &self.corp_name.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// A tag a follow user put on the contact.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FollowTag {
    /// The corp tag id (empty for personal tags).
    #[serde(default)]
    pub tag_id: Option<String>,
    /// The tag name.
    #[serde(default)]
    pub tag_name: String,
    /// 1 corp tag, 2 personal tag, 3 rule-group tag.
    #[serde(rename = "type", default)]
    pub tag_type: i64,
}

/// A staff member who has the contact (`follow_user` / `follow_info`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct FollowInfo {
    /// The staff member's WeCom userid.
    pub userid: String,
    /// Remark the staff member gave the contact.
    #[serde(default)]
    pub remark: Option<String>,
    /// When the contact was added (Unix seconds).
    #[serde(default)]
    pub createtime: i64,
    /// Tags (from `externalcontact/get`).
    #[serde(default)]
    pub tags: Vec<FollowTag>,
    /// Tag ids (from `batch/get_by_user`).
    #[serde(default)]
    pub tag_id: Vec<String>,
    /// Mobiles the staff member noted for the contact.
    #[serde(default)]
    pub remark_mobiles: Vec<String>,
    /// How the contact was added.
    #[serde(default = "unspecified_way")]
    pub add_way: AddWay,
    /// The `state` of the contact way (channel QR code) used, if any.
    #[serde(default)]
    pub state: Option<String>,
}

fn unspecified_way() -> AddWay {
    AddWay::Unspecified
}

impl fmt::Debug for FollowInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FollowInfo")
            .field("userid", &self.userid)
            .field("createtime", &self.createtime)
            .field("add_way", &self.add_way)
            .field("state", &self.state)
            .field("remark_mobiles", &self.remark_mobiles.len())
            .finish_non_exhaustive()
    }
}

impl FollowInfo {
    /// Corp tag ids, from either answer shape.
    pub fn corp_tag_ids(&self) -> Vec<String> {
        let mut ids = self.tag_id.clone();
        ids.extend(self.tags.iter().filter_map(|t| t.tag_id.clone()));
        ids.sort();
        ids.dedup();
        ids
    }
}

/// A contact with one or more of its follow users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecord {
    /// The contact.
    pub contact: ExternalContact,
    /// The staff members who have the contact (as far as the answer listed them).
    pub follow: Vec<FollowInfo>,
}

/// A group chat as `groupchat/list` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupChatRef {
    /// The chat id.
    pub chat_id: String,
    /// Its status.
    #[serde(default = "normal_status")]
    pub status: GroupStatus,
}

fn normal_status() -> GroupStatus {
    GroupStatus::Normal
}

/// A member of a group chat.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct GroupMember {
    /// The staff userid or the external user id.
    pub userid: String,
    /// Staff or external contact.
    #[serde(rename = "type", default = "unknown_member")]
    pub member_type: MemberType,
    /// When they joined (Unix seconds).
    #[serde(default)]
    pub join_time: i64,
    /// How they joined.
    #[serde(default = "unknown_scene")]
    pub join_scene: JoinScene,
}

fn unknown_member() -> MemberType {
    MemberType::Unknown(0)
}
fn unknown_scene() -> JoinScene {
    JoinScene::Unknown(0)
}

impl fmt::Debug for GroupMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = match self.member_type {
            MemberType::Staff => self.userid.clone(),
            _ => format!("<{} chars>", self.userid.len()),
        };
        f.debug_struct("GroupMember")
            .field("userid", &id)
            .field("member_type", &self.member_type)
            .field("join_time", &self.join_time)
            .field("join_scene", &self.join_scene)
            .finish()
    }
}

/// A group chat with its roster (`groupchat/get`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct GroupChatDetail {
    /// The chat id.
    pub chat_id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// The owner's staff userid.
    #[serde(default)]
    pub owner: String,
    /// When it was created (Unix seconds).
    #[serde(default)]
    pub create_time: i64,
    /// Members.
    #[serde(default)]
    pub member_list: Vec<GroupMember>,
}

impl fmt::Debug for GroupChatDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupChatDetail")
            .field("chat_id", &self.chat_id)
            .field("owner", &self.owner)
            .field("create_time", &self.create_time)
            .field("member_list", &self.member_list)
            .finish_non_exhaustive()
    }
}

/// A corp tag.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CorpTag {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Whether it was deleted.
    #[serde(default)]
    pub deleted: bool,
}

/// A corp tag group (`get_corp_tag_list`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CorpTagGroup {
    /// Id.
    pub group_id: String,
    /// Name.
    pub group_name: String,
    /// Tags.
    #[serde(default)]
    pub tag: Vec<CorpTag>,
    /// Whether it was deleted.
    #[serde(default)]
    pub deleted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_are_kept_and_ids_are_not_shown() {
        let c: ExternalContact = serde_json::from_str(
            r#"{"external_userid":"wmABCDEF","name":"张三","type":7,"gender":1}"#,
        )
        .unwrap();
        assert_eq!(c.contact_type, ContactType::Unknown(7));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("wmABCDEF") && !shown.contains("张三"),
            "{shown}"
        );
        let f: FollowInfo = serde_json::from_str(
            r#"{"userid":"zhangsan","add_way":301,"remark_mobiles":["13800000000"]}"#,
        )
        .unwrap();
        assert_eq!(f.add_way.code(), 301);
        assert!(f.add_way.is_unknown());
        assert!(!format!("{f:?}").contains("13800000000"));
    }
}
