//! The fake's state, request checks, OAuth, accounts and transfers.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde_json::Value;

use crate::platform::oceanengine::json::{self, Out, Rewrite};
use crate::platform::oceanengine::reports::ReportLevel;
use crate::platform::oceanengine::transport::{HttpMethod, WireRequest};

/// Credentials and token lifetimes of the fake.
#[derive(Debug, Clone)]
pub struct FakeSetup {
    /// The app id the fake accepts.
    pub app_id: String,
    /// The app secret the fake accepts.
    pub secret: String,
    /// The agent account id.
    pub agent_id: String,
    /// `expires_in` of access tokens, seconds.
    pub expires_in: i64,
    /// `refresh_token_expires_in`, seconds.
    pub refresh_expires_in: i64,
}

impl Default for FakeSetup {
    fn default() -> Self {
        FakeSetup {
            app_id: "1690000000000001".into(),
            secret: "fake-app-secret".into(),
            agent_id: "1700000000000009".into(),
            expires_in: 86_400,
            refresh_expires_in: 30 * 86_400,
        }
    }
}

/// An advertiser account under the fake's agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeAdvertiser {
    /// The id.
    pub id: String,
    /// The account name.
    pub name: String,
    /// The licence number on the account.
    pub licence_number: String,
    /// The wire status (`STATUS_ENABLE`, …, or anything).
    pub status: String,
    /// The review's reason.
    pub reason: String,
    /// Balance in fen.
    pub balance_fen: i64,
}

impl FakeAdvertiser {
    /// An enabled account with no balance.
    pub fn new(id: &str, licence_number: &str) -> FakeAdvertiser {
        FakeAdvertiser {
            id: id.to_string(),
            name: "测试广告主".into(),
            licence_number: licence_number.to_string(),
            status: "STATUS_ENABLE".into(),
            reason: String::new(),
            balance_fen: 0,
        }
    }

    /// The same account with a balance.
    #[must_use]
    pub fn with_balance_fen(mut self, fen: i64) -> FakeAdvertiser {
        self.balance_fen = fen;
        self
    }
}

/// One report row the fake serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRow {
    /// Campaign/project or ad/promotion id.
    pub id: String,
    /// `stat_cost` as the literal the fake writes (e.g. `123.45`).
    pub cost: String,
    /// `show_cnt`.
    pub show: u64,
    /// `click_cnt`.
    pub click: u64,
    /// `convert_cnt`.
    pub convert: u64,
}

impl FakeRow {
    /// A row.
    pub fn new(id: &str, cost: &str, show: u64, click: u64, convert: u64) -> FakeRow {
        FakeRow {
            id: id.to_string(),
            cost: cost.to_string(),
            show,
            click,
            convert,
        }
    }
}

/// A call the fake received (no token, no body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCall {
    /// Method.
    pub method: HttpMethod,
    /// Path below `/open_api/`.
    pub path: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub(super) struct Object {
    pub advertiser: String,
    pub name: String,
    pub status: String,
    pub parent: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct FakeTransfer {
    pub serial: String,
    pub advertiser: String,
    pub fen: i64,
    pub status: &'static str,
    pub fail_reason: String,
}

pub(super) type Answer = (u16, String);

#[derive(Debug)]
pub(super) struct Inner {
    pub setup: FakeSetup,
    pub auth_codes: HashSet<String>,
    pub access_tokens: HashMap<String, bool>,
    pub refresh_tokens: HashMap<String, bool>,
    pub refresh_reuses: usize,
    pub advertisers: BTreeMap<String, FakeAdvertiser>,
    pub transfers: HashMap<String, FakeTransfer>,
    pub campaigns: BTreeMap<String, Object>,
    pub campaign_fks: HashMap<String, String>,
    pub projects: BTreeMap<String, Object>,
    pub promotions: BTreeMap<String, Object>,
    pub reports: HashMap<(String, NaiveDate, ReportLevel), Vec<FakeRow>>,
    pub sent_numbers: HashMap<(String, String), String>,
    pub refused_ids: HashSet<String>,
    pub lose_answer: HashSet<String>,
    pub throttle: u32,
    pub calls: Vec<FakeCall>,
    next: u64,
}

/// A request with its body parsed twice: as sent, and with numbers as their literal text.
pub(super) struct Req<'a> {
    pub r: &'a WireRequest,
    pub body: Value,
    pub quoted: Value,
}

impl Req<'_> {
    pub fn q(&self, name: &str) -> Option<&str> {
        self.r
            .query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A JSON-valued query parameter, numbers as text.
    pub fn qjson(&self, name: &str) -> Option<Value> {
        quoted(self.q(name)?)
    }

    /// A body member that must be a JSON number, as its literal text.
    pub fn number(&self, name: &str) -> Result<String, String> {
        match (self.body.get(name), self.quoted.get(name)) {
            (Some(Value::Number(_)), Some(Value::String(s))) => Ok(s.clone()),
            (None, _) => Err(format!("{name} 缺失")),
            _ => Err(format!("{name} 应为数字")),
        }
    }

    /// A body member as text (strings, or numbers as their literal).
    pub fn text(&self, name: &str) -> Option<String> {
        self.quoted
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

pub(super) fn quoted(text: &str) -> Option<Value> {
    let t = json::rewrite(
        text,
        Rewrite {
            quote_numbers: true,
            ..Rewrite::default()
        },
    )
    .ok()?;
    serde_json::from_str(&t).ok()
}

pub(super) fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

impl Inner {
    pub fn new(setup: FakeSetup) -> Inner {
        Inner {
            setup,
            auth_codes: HashSet::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            refresh_reuses: 0,
            advertisers: BTreeMap::new(),
            transfers: HashMap::new(),
            campaigns: BTreeMap::new(),
            campaign_fks: HashMap::new(),
            projects: BTreeMap::new(),
            promotions: BTreeMap::new(),
            reports: HashMap::new(),
            sent_numbers: HashMap::new(),
            refused_ids: HashSet::new(),
            lose_answer: HashSet::new(),
            throttle: 0,
            calls: Vec::new(),
            next: 0,
        }
    }

    pub fn add_advertiser(&mut self, a: FakeAdvertiser) {
        self.advertisers.insert(a.id.clone(), a);
    }

    pub fn log(&mut self, r: &WireRequest) {
        self.calls.push(FakeCall {
            method: r.method,
            path: r.path.clone(),
            query: r.query.clone(),
        });
    }

    /// A fresh id above 2^53 (ids must never travel as floats).
    pub fn new_id(&mut self) -> String {
        self.next += 1;
        (7_160_000_000_000_000_000u64 + self.next).to_string()
    }

    pub fn ok(&mut self, data: Out) -> Answer {
        self.next += 1;
        let body = Out::obj([
            ("code", Out::int(0)),
            ("message", Out::str("OK")),
            ("request_id", Out::str(format!("fake-{}", self.next))),
            ("data", data),
        ]);
        (200, body.to_json())
    }

    pub fn refuse(&mut self, code: i64, message: &str) -> Answer {
        self.next += 1;
        let body = Out::obj([
            ("code", Out::int(code)),
            ("message", Out::str(message)),
            ("request_id", Out::str(format!("fake-{}", self.next))),
            ("data", Out::Obj(vec![])),
        ]);
        (200, body.to_json())
    }

    pub fn serve(&mut self, r: &WireRequest) -> Answer {
        let body_text = r.body.clone().unwrap_or_else(|| "{}".into());
        let (body, quoted_body) = match (
            serde_json::from_str::<Value>(&body_text),
            quoted(&body_text),
        ) {
            (Ok(b), Some(q)) => (b, q),
            _ => return self.refuse(40001, "请求体不是合法的 JSON"),
        };
        let req = Req {
            r,
            body,
            quoted: quoted_body,
        };
        let answer = if r.path.starts_with("oauth2/") {
            self.oauth(&req)
        } else if let Some(refusal) = self.gate(r) {
            refusal
        } else {
            self.api(&req)
        };
        if self.lose_answer.remove(&r.path) {
            return (504, "<html><body>504 Gateway Time-out</body></html>".into());
        }
        answer
    }

    /// Token and rate-limit checks of every API call.
    fn gate(&mut self, r: &WireRequest) -> Option<Answer> {
        if self.throttle > 0 {
            self.throttle -= 1;
            return Some(self.refuse(40100, "请求过于频繁，请稍后再试"));
        }
        let refusal = match r
            .access_token
            .as_ref()
            .map(|t| self.access_tokens.get(t.expose()))
        {
            None => Some((40104, "Access-Token 为空")),
            Some(None) => Some((40105, "access_token 无效")),
            Some(Some(false)) => Some((40102, "access_token 已过期")),
            Some(Some(true)) => None,
        };
        refusal.map(|(code, message)| self.refuse(code, message))
    }

    fn api(&mut self, req: &Req<'_>) -> Answer {
        match (req.r.method, req.r.path.as_str()) {
            (HttpMethod::Get, "2/advertiser/info/") => self.advertiser_info(req),
            (HttpMethod::Get, "2/advertiser/fund/get/") => self.fund(req),
            (HttpMethod::Get, "2/agent/advertiser/select/") => self.agent_select(req),
            (HttpMethod::Post, "v3.0/cg_transfer/create_transfer/") => self.create_transfer(req),
            (HttpMethod::Get, "v3.0/cg_transfer/query_transfer_detail/") => {
                self.transfer_detail(req)
            }
            _ => self.delivery(req),
        }
    }

    fn oauth(&mut self, req: &Req<'_>) -> Answer {
        if req.r.method != HttpMethod::Post {
            return self.refuse(40001, "请使用 POST");
        }
        let app_ok = req.number("app_id").ok().as_deref() == Some(self.setup.app_id.as_str())
            && req.text("secret").as_deref() == Some(self.setup.secret.as_str());
        if !app_ok {
            return self.refuse(40001, "app_id 或 secret 错误");
        }
        match (req.r.path.as_str(), req.text("grant_type").as_deref()) {
            ("oauth2/access_token/", Some("auth_code")) => {
                let code = req.text("auth_code").unwrap_or_default();
                if !self.auth_codes.remove(&code) {
                    return self.refuse(40113, "auth_code 无效或已使用");
                }
                self.issue_tokens()
            }
            ("oauth2/refresh_token/", Some("refresh_token")) => {
                let rt = req.text("refresh_token").unwrap_or_default();
                match self.refresh_tokens.get_mut(&rt) {
                    Some(valid @ true) => {
                        *valid = false;
                        self.issue_tokens()
                    }
                    Some(false) => {
                        self.refresh_reuses += 1;
                        self.refuse(40107, "refresh_token 已使用或无效")
                    }
                    None => self.refuse(40107, "refresh_token 无效"),
                }
            }
            _ => self.refuse(40001, "grant_type 错误"),
        }
    }

    fn issue_tokens(&mut self) -> Answer {
        self.next += 1;
        let at = format!("fake-access-{}", self.next);
        let rt = format!("fake-refresh-{}", self.next);
        self.access_tokens.insert(at.clone(), true);
        self.refresh_tokens.insert(rt.clone(), true);
        let ids: Vec<Out> = self.advertisers.keys().map(|id| Out::id(id)).collect();
        let data = Out::obj([
            ("access_token", Out::str(at)),
            ("refresh_token", Out::str(rt)),
            ("expires_in", Out::int(self.setup.expires_in)),
            (
                "refresh_token_expires_in",
                Out::int(self.setup.refresh_expires_in),
            ),
            ("advertiser_ids", Out::Arr(ids)),
        ]);
        self.ok(data)
    }

    fn advertiser_info(&mut self, req: &Req<'_>) -> Answer {
        let Some(Value::Array(ids)) = req.qjson("advertiser_ids") else {
            return self.refuse(40001, "advertiser_ids 应为 JSON 数组");
        };
        if ids.is_empty() || ids.len() > 100 {
            return self.refuse(40001, "advertiser_ids 数量应为 1-100");
        }
        let mut rows = Vec::new();
        for id in ids.iter().filter_map(Value::as_str) {
            let Some(a) = self.advertisers.get(id) else {
                return self.refuse(40002, "No permission to operate advertiser");
            };
            rows.push(Out::obj([
                ("id", Out::id(&a.id)),
                ("name", Out::str(&a.name)),
                ("status", Out::str(&a.status)),
                ("reason", Out::str(&a.reason)),
                ("license_no", Out::str(&a.licence_number)),
            ]));
        }
        self.ok(Out::Arr(rows))
    }

    fn fund(&mut self, req: &Req<'_>) -> Answer {
        let id = req.q("advertiser_id").unwrap_or_default().to_string();
        let Some(a) = self.advertisers.get(&id) else {
            return self.refuse(40002, "No permission to operate advertiser");
        };
        let balance = yuan(a.balance_fen);
        let data = Out::obj([
            ("advertiser_id", Out::id(&id)),
            ("name", Out::str(&a.name)),
            ("email", Out::str("finance@advertiser.example")),
            ("balance", Out::Num(balance.clone())),
            ("valid_balance", Out::Num(balance.clone())),
            ("cash", Out::Num(balance)),
            ("grant", Out::Num("0".into())),
        ]);
        self.ok(data)
    }

    fn agent_select(&mut self, req: &Req<'_>) -> Answer {
        if req.q("advertiser_id") != Some(self.setup.agent_id.as_str()) {
            return self.refuse(40002, "No permission to operate agent");
        }
        let ids: Vec<String> = self.advertisers.keys().cloned().collect();
        self.page_of(
            req,
            ids.into_iter().map(|id| Out::id(&id)).collect(),
            "list",
        )
    }

    /// Serve a page of `items` under `member` with `page_info`.
    pub fn page_of(&mut self, req: &Req<'_>, items: Vec<Out>, member: &str) -> Answer {
        let page: usize = req.q("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let size: usize = req
            .q("page_size")
            .and_then(|p| p.parse().ok())
            .unwrap_or(20);
        if page == 0 || size == 0 || size > 1000 {
            return self.refuse(40001, "page 或 page_size 超出范围 (page_size 1-1000)");
        }
        let total = items.len();
        let pages = total.div_ceil(size);
        let slice: Vec<Out> = items
            .into_iter()
            .skip((page - 1) * size)
            .take(size)
            .collect();
        let data = Out::obj([
            (member, Out::Arr(slice)),
            (
                "page_info",
                Out::obj([
                    ("page", Out::int(page as i64)),
                    ("page_size", Out::int(size as i64)),
                    ("total_number", Out::int(total as i64)),
                    ("total_page", Out::int(pages as i64)),
                ]),
            ),
        ]);
        self.ok(data)
    }

    fn create_transfer(&mut self, req: &Req<'_>) -> Answer {
        if req.number("agent_id").ok().as_deref() != Some(self.setup.agent_id.as_str())
            || req.number("account_id").ok().as_deref() != Some(self.setup.agent_id.as_str())
        {
            return self.refuse(40002, "agent_id 无权限");
        }
        let Some(biz) = req.text("biz_request_no").filter(|b| !b.is_empty()) else {
            return self.refuse(40001, "biz_request_no 缺失");
        };
        if req.text("transfer_direction").as_deref() != Some("TRANSFER_IN") {
            return self.refuse(40001, "transfer_direction 错误");
        }
        if let Some(t) = self.transfers.get(&biz) {
            let serial = t.serial.clone();
            return self.ok(Out::obj([("transfer_serial", Out::str(serial))]));
        }
        let targets = req
            .body
            .get("target_account_detail_list")
            .and_then(Value::as_array);
        let Some([target]) = targets.map(Vec::as_slice) else {
            return self.refuse(40001, "target_account_detail_list 应含一个账户");
        };
        let advertiser = match target.get("account_id") {
            Some(Value::Number(n)) => n.to_string(),
            _ => return self.refuse(40001, "account_id 应为数字"),
        };
        let capitals = target
            .get("transfer_capital_detail_list")
            .and_then(Value::as_array);
        let Some([capital]) = capitals.map(Vec::as_slice) else {
            return self.refuse(40001, "transfer_capital_detail_list 应含一项");
        };
        let fen = match capital.get("transfer_balance") {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|f| f > 0) => n.as_i64().unwrap_or(0),
            _ => return self.refuse(40001, "transfer_balance 应为正整数（分）"),
        };
        let Some(account) = self.advertisers.get_mut(&advertiser) else {
            return self.refuse(40002, "No permission to operate advertiser");
        };
        let (status, fail_reason) = if account.status == "STATUS_ENABLE" {
            account.balance_fen += fen;
            ("TRANSFER_SUCCESS", String::new())
        } else {
            ("TRANSFER_FAILED", "目标账户状态异常".to_string())
        };
        let serial = format!("TS{}", self.new_id());
        self.transfers.insert(
            biz,
            FakeTransfer {
                serial: serial.clone(),
                advertiser,
                fen,
                status,
                fail_reason,
            },
        );
        self.ok(Out::obj([("transfer_serial", Out::str(serial))]))
    }

    fn transfer_detail(&mut self, req: &Req<'_>) -> Answer {
        if req.q("agent_id") != Some(self.setup.agent_id.as_str())
            || req.q("biz_request_no").is_none()
        {
            return self.refuse(40001, "agent_id 或 biz_request_no 缺失");
        }
        let key = req
            .q("transfer_biz_request_no")
            .unwrap_or_default()
            .to_string();
        let Some(t) = self.transfers.get(&key).cloned() else {
            return self.ok(Out::Obj(vec![]));
        };
        let data = Out::obj([
            ("transfer_serial", Out::str(&t.serial)),
            ("biz_request_no", Out::str(&key)),
            ("transfer_direction", Out::str("TRANSFER_IN")),
            ("transfer_amount", Out::int(t.fen)),
            ("transfer_status", Out::str(t.status)),
            (
                "transfer_target_record_list",
                Out::Arr(vec![Out::obj([
                    ("account_id", Out::id(&self.setup.agent_id)),
                    ("target_account_id", Out::id(&t.advertiser)),
                    ("transfer_amount", Out::int(t.fen)),
                    ("transfer_status", Out::str(t.status)),
                    (
                        "transfer_capital_record_list",
                        Out::Arr(vec![Out::obj([
                            ("capital_type", Out::str("PREPAY_GENERAL")),
                            ("transfer_balance", Out::int(t.fen)),
                            ("transfer_status", Out::str(t.status)),
                            ("fail_reason", Out::str(&t.fail_reason)),
                        ])]),
                    ),
                ])]),
            ),
        ]);
        self.ok(data)
    }

    pub fn campaign_statuses(&self, advertiser: &str) -> Vec<(String, String)> {
        self.campaigns
            .iter()
            .chain(self.projects.iter())
            .filter(|(_, o)| o.advertiser == advertiser)
            .map(|(id, o)| (id.clone(), o.status.clone()))
            .collect()
    }

    pub fn promotion_ids(&self, advertiser: &str) -> Vec<String> {
        self.promotions
            .iter()
            .filter(|(_, o)| o.advertiser == advertiser)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_literals_are_exact() {
        assert_eq!(yuan(12345), "123.45");
        assert_eq!(yuan(-5), "-0.05");
        assert_eq!(yuan(0), "0.00");
    }
}
