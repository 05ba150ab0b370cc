//! The fake's campaigns, projects, promotions and reports.

use chrono::NaiveDate;
use serde_json::Value;

use super::state::{Answer, Inner, Object, Req};
use crate::platform::oceanengine::json::Out;
use crate::platform::oceanengine::reports::ReportLevel;
use crate::platform::oceanengine::transport::HttpMethod;

const BUDGET_MODES: [&str; 3] = [
    "BUDGET_MODE_DAY",
    "BUDGET_MODE_TOTAL",
    "BUDGET_MODE_INFINITE",
];

impl Inner {
    pub(super) fn delivery(&mut self, req: &Req<'_>) -> Answer {
        match (req.r.method, req.r.path.as_str()) {
            (HttpMethod::Post, "2/campaign/create/") => self.campaign_create(req),
            (HttpMethod::Post, "2/campaign/update/status/") => {
                self.batch_status(req, "campaign_ids", "campaign_id", Kind::Campaign)
            }
            (HttpMethod::Post, "2/ad/update/status/") => {
                self.batch_status(req, "ad_ids", "ad_id", Kind::Ad)
            }
            (HttpMethod::Post, "v3.0/project/create/") => self.project_create(req),
            (HttpMethod::Post, "v3.0/promotion/create/") => self.promotion_create(req),
            (HttpMethod::Post, "v3.0/project/status/update/") => {
                self.data_status(req, "project_id", Kind::Project)
            }
            (HttpMethod::Post, "v3.0/promotion/status/update/") => {
                self.data_status(req, "promotion_id", Kind::Promotion)
            }
            (HttpMethod::Post, "v3.0/project/delete/") => {
                self.batch_status(req, "project_ids", "project_id", Kind::Project)
            }
            (HttpMethod::Post, "v3.0/promotion/delete/") => {
                self.batch_status(req, "promotion_ids", "promotion_id", Kind::Promotion)
            }
            (HttpMethod::Get, "v3.0/project/list/") => self.list(req, Kind::Project),
            (HttpMethod::Get, "v3.0/promotion/list/") => self.list(req, Kind::Promotion),
            (HttpMethod::Get, "2/report/advertiser/get/") => {
                self.v2_report(req, ReportLevel::Advertiser)
            }
            (HttpMethod::Get, "2/report/campaign/get/") => {
                self.v2_report(req, ReportLevel::Campaign)
            }
            (HttpMethod::Get, "2/report/ad/get/") => self.v2_report(req, ReportLevel::Ad),
            (HttpMethod::Get, "v3.0/report/custom/get/") => self.v3_report(req),
            _ => (
                404,
                "{\"code\":40400,\"message\":\"no such endpoint in the fake\"}".into(),
            ),
        }
    }

    fn advertiser_of(&mut self, req: &Req<'_>) -> Result<String, Answer> {
        match req.number("advertiser_id") {
            Ok(id) if self.advertisers.contains_key(&id) => Ok(id),
            Ok(_) => Err(self.refuse(40002, "No permission to operate advertiser")),
            Err(e) => Err(self.refuse(40001, &e)),
        }
    }

    fn campaign_create(&mut self, req: &Req<'_>) -> Answer {
        let advertiser = match self.advertiser_of(req) {
            Ok(a) => a,
            Err(answer) => return answer,
        };
        let name = req.text("campaign_name").unwrap_or_default();
        let mode = req.text("budget_mode").unwrap_or_default();
        if name.is_empty()
            || !BUDGET_MODES.contains(&mode.as_str())
            || req.text("landing_type").is_none()
        {
            return self.refuse(
                40001,
                "campaign_name / budget_mode / landing_type 缺失或错误",
            );
        }
        if let Some(id) = req
            .text("unique_fk")
            .and_then(|fk| self.campaign_fks.get(&fk).cloned())
        {
            return self.ok(Out::obj([("campaign_id", Out::id(&id))]));
        }
        let budget = if mode == "BUDGET_MODE_INFINITE" {
            None
        } else {
            match req.number("budget") {
                Ok(b) => Some(b),
                Err(e) => return self.refuse(40001, &e),
            }
        };
        let id = self.new_id();
        if let Some(b) = budget {
            self.sent_numbers.insert((id.clone(), "budget".into()), b);
        }
        if let Some(fk) = req.text("unique_fk") {
            self.campaign_fks.insert(fk, id.clone());
        }
        self.campaigns.insert(
            id.clone(),
            Object {
                advertiser,
                name,
                status: "enable".into(),
                parent: None,
            },
        );
        self.ok(Out::obj([("campaign_id", Out::id(&id))]))
    }

    fn project_create(&mut self, req: &Req<'_>) -> Answer {
        let advertiser = match self.advertiser_of(req) {
            Ok(a) => a,
            Err(answer) => return answer,
        };
        let name = req.text("name").unwrap_or_default();
        if name.is_empty() || req.text("landing_type").is_none() {
            return self.refuse(40001, "name / landing_type 缺失");
        }
        if self
            .projects
            .values()
            .any(|p| p.advertiser == advertiser && p.name == name)
        {
            return self.refuse(40001, "项目名称重复");
        }
        let setting = req.body.get("delivery_setting");
        let mode = setting
            .and_then(|s| s.get("budget_mode"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let pricing = setting
            .and_then(|s| s.get("pricing"))
            .and_then(Value::as_str);
        if !BUDGET_MODES.contains(&mode) || pricing.is_none() {
            return self.refuse(40001, "delivery_setting.budget_mode / pricing 缺失或错误");
        }
        let budget = match setting.and_then(|s| s.get("budget")) {
            Some(Value::Number(_)) => req
                .quoted
                .get("delivery_setting")
                .and_then(|s| s.get("budget"))
                .and_then(Value::as_str)
                .map(str::to_string),
            None if mode == "BUDGET_MODE_INFINITE" => None,
            _ => return self.refuse(40001, "delivery_setting.budget 应为数字"),
        };
        let id = self.new_id();
        if let Some(b) = budget {
            self.sent_numbers.insert((id.clone(), "budget".into()), b);
        }
        self.projects.insert(
            id.clone(),
            Object {
                advertiser,
                name,
                status: "enable".into(),
                parent: None,
            },
        );
        self.ok(Out::obj([("project_id", Out::id(&id))]))
    }

    fn promotion_create(&mut self, req: &Req<'_>) -> Answer {
        let advertiser = match self.advertiser_of(req) {
            Ok(a) => a,
            Err(answer) => return answer,
        };
        let project = req.number("project_id").unwrap_or_default();
        if self
            .projects
            .get(&project)
            .is_none_or(|p| p.advertiser != advertiser)
        {
            return self.refuse(40001, "project_id 不存在");
        }
        let name = req.text("name").unwrap_or_default();
        if name.is_empty() {
            return self.refuse(40001, "name 缺失");
        }
        if self
            .promotions
            .values()
            .any(|p| p.advertiser == advertiser && p.name == name)
        {
            return self.refuse(40001, "广告名称重复");
        }
        let materials = req.body.get("promotion_materials");
        let has = |member: &str| {
            materials
                .and_then(|m| m.get(member))
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        };
        if !has("title_material_list")
            || !has("external_url_material_list")
            || !(has("image_material_list") || has("video_material_list"))
        {
            return self.refuse(40001, "promotion_materials 缺少标题、落地页或图片/视频素材");
        }
        let bid = match req.number("cpa_bid") {
            Ok(b) => b,
            Err(e) => return self.refuse(40001, &e),
        };
        let id = self.new_id();
        self.sent_numbers
            .insert((id.clone(), "cpa_bid".into()), bid);
        self.promotions.insert(
            id.clone(),
            Object {
                advertiser,
                name,
                status: "enable".into(),
                parent: Some(project),
            },
        );
        self.ok(Out::obj([("promotion_id", Out::id(&id))]))
    }

    fn objects(&mut self, kind: Kind) -> Option<&mut std::collections::BTreeMap<String, Object>> {
        match kind {
            Kind::Campaign => Some(&mut self.campaigns),
            Kind::Project => Some(&mut self.projects),
            Kind::Promotion => Some(&mut self.promotions),
            Kind::Ad => None,
        }
    }

    /// Apply `status` to `id`: `None` when refused (unknown or refused on purpose).
    fn apply(&mut self, kind: Kind, advertiser: &str, id: &str, status: &str) -> bool {
        if self.refused_ids.contains(id) {
            return false;
        }
        match self.objects(kind).and_then(|m| m.get_mut(id)) {
            Some(o) if o.advertiser == advertiser && o.status != "delete" => {
                o.status = status.to_string();
                true
            }
            _ => false,
        }
    }

    /// `{advertiser_id, <ids_member>: [...], opt_status?}` (API 2 status and v3.0 delete).
    fn batch_status(
        &mut self,
        req: &Req<'_>,
        ids_member: &str,
        id_field: &str,
        kind: Kind,
    ) -> Answer {
        let advertiser = match self.advertiser_of(req) {
            Ok(a) => a,
            Err(answer) => return answer,
        };
        let status = if req.r.path.ends_with("/delete/") {
            "delete".to_string()
        } else {
            match req.text("opt_status").as_deref() {
                Some(s @ ("enable" | "disable" | "delete")) => s.to_string(),
                _ => return self.refuse(40001, "opt_status 应为 enable / disable / delete"),
            }
        };
        let ids: Vec<String> = match req.quoted.get(ids_member).and_then(Value::as_array) {
            Some(ids)
                if req
                    .body
                    .get(ids_member)
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().all(Value::is_number)) =>
            {
                ids.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            }
            _ => return self.refuse(40001, &format!("{ids_member} 应为数字数组")),
        };
        let mut done = Vec::new();
        let mut errors = Vec::new();
        for id in ids {
            if self.apply(kind, &advertiser, &id, &status) {
                done.push(Out::id(&id));
            } else {
                errors.push(Out::obj([
                    (id_field, Out::id(&id)),
                    ("error_code", Out::int(40001)),
                    ("error_message", Out::str("状态不可修改")),
                ]));
            }
        }
        let data = Out::obj([(ids_member, Out::Arr(done)), ("errors", Out::Arr(errors))]);
        self.ok(data)
    }

    /// `{advertiser_id, data: [{<id_field>, opt_status}]}` (v3.0 status updates).
    fn data_status(&mut self, req: &Req<'_>, id_field: &str, kind: Kind) -> Answer {
        let advertiser = match self.advertiser_of(req) {
            Ok(a) => a,
            Err(answer) => return answer,
        };
        let Some(items) = req.quoted.get("data").and_then(Value::as_array).cloned() else {
            return self.refuse(40001, "data 应为数组");
        };
        let mut done = Vec::new();
        let mut errors = Vec::new();
        for item in items {
            let id = item
                .get(id_field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let status = match item.get("opt_status").and_then(Value::as_str) {
                Some("ENABLE") => "enable",
                Some("DISABLE") => "disable",
                _ => return self.refuse(40001, "opt_status 应为 ENABLE / DISABLE"),
            };
            if self.apply(kind, &advertiser, &id, status) {
                done.push(Out::id(&id));
            } else {
                errors.push(Out::obj([
                    (id_field, Out::id(&id)),
                    ("object_type", Out::str("BASIC")),
                    ("error_code", Out::int(40001)),
                    ("error_message", Out::str("状态不可修改")),
                ]));
            }
        }
        let ids_member = format!("{id_field}s");
        let data = Out::Obj(vec![
            (ids_member, Out::Arr(done)),
            ("errors".into(), Out::Arr(errors)),
        ]);
        self.ok(data)
    }

    fn list(&mut self, req: &Req<'_>, kind: Kind) -> Answer {
        let advertiser = req.q("advertiser_id").unwrap_or_default().to_string();
        let (id_field, name_field) = match kind {
            Kind::Project => ("project_id", "name"),
            _ => ("promotion_id", "promotion_name"),
        };
        let items: Vec<Out> = self
            .objects(kind)
            .map(|m| {
                m.iter()
                    .filter(|(_, o)| o.advertiser == advertiser && o.status != "delete")
                    .map(|(id, o)| {
                        let mut item =
                            Out::obj([(id_field, Out::id(id)), (name_field, Out::str(&o.name))]);
                        if let Some(p) = &o.parent {
                            item = item.with("project_id", Out::id(p));
                        }
                        item
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.page_of(req, items, "list")
    }

    fn report_rows(
        &self,
        advertiser: &str,
        day: NaiveDate,
        level: ReportLevel,
    ) -> Vec<super::FakeRow> {
        self.reports
            .get(&(advertiser.to_string(), day, level))
            .cloned()
            .unwrap_or_default()
    }

    fn report_day(
        &mut self,
        req: &Req<'_>,
        start: &str,
        end: &str,
    ) -> Result<(String, NaiveDate), Answer> {
        let advertiser = req.q("advertiser_id").unwrap_or_default().to_string();
        if !self.advertisers.contains_key(&advertiser) {
            return Err(self.refuse(40002, "No permission to operate advertiser"));
        }
        let day = req.q(start).and_then(|d| d.parse::<NaiveDate>().ok());
        match day {
            Some(d) if req.q(end) == Some(d.to_string().as_str()) => Ok((advertiser, d)),
            _ => Err(self.refuse(40001, &format!("{start} / {end} 应为同一天 YYYY-MM-DD"))),
        }
    }

    fn v2_report(&mut self, req: &Req<'_>, level: ReportLevel) -> Answer {
        let (advertiser, day) = match self.report_day(req, "start_date", "end_date") {
            Ok(x) => x,
            Err(answer) => return answer,
        };
        let group_by = req.qjson("group_by");
        let fields = req.qjson("fields");
        let contains = |v: &Option<Value>, s: &str| {
            v.as_ref()
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(s)))
        };
        let by_id_ok =
            level == ReportLevel::Advertiser || contains(&group_by, "STAT_GROUP_BY_FIELD_ID");
        if req.q("time_granularity") != Some("STAT_TIME_GRANULARITY_DAILY")
            || !contains(&group_by, "STAT_GROUP_BY_FIELD_STAT_TIME")
            || !by_id_ok
            || !["stat_cost", "show_cnt", "click_cnt", "convert_cnt"]
                .iter()
                .all(|m| contains(&fields, m))
        {
            return self.refuse(40001, "group_by / fields / time_granularity 参数错误");
        }
        let id_field = match level {
            ReportLevel::Advertiser => "advertiser_id",
            ReportLevel::Campaign => "campaign_id",
            ReportLevel::Ad => "ad_id",
        };
        let items = self
            .report_rows(&advertiser, day, level)
            .into_iter()
            .map(|r| {
                let id = if level == ReportLevel::Advertiser {
                    advertiser.clone()
                } else {
                    r.id
                };
                Out::obj([
                    (id_field, Out::id(&id)),
                    ("stat_datetime", Out::str(format!("{day} 00:00:00"))),
                    ("stat_cost", Out::Num(r.cost)),
                    ("show_cnt", Out::int(r.show)),
                    ("click_cnt", Out::int(r.click)),
                    ("convert_cnt", Out::int(r.convert)),
                ])
            })
            .collect();
        self.page_of(req, items, "list")
    }

    fn v3_report(&mut self, req: &Req<'_>) -> Answer {
        let (advertiser, day) = match self.report_day(req, "start_time", "end_time") {
            Ok(x) => x,
            Err(answer) => return answer,
        };
        let dims: Vec<String> = req
            .qjson("dimensions")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.as_str().map(str::to_string))
            .collect();
        let metrics = req.qjson("metrics");
        let has_metrics = ["stat_cost", "show_cnt", "click_cnt", "convert_cnt"]
            .iter()
            .all(|m| {
                metrics
                    .as_ref()
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(m)))
            });
        if !dims.iter().any(|d| d == "stat_time_day")
            || !has_metrics
            || req.q("filters").is_none()
            || req.q("order_by").is_none()
        {
            return self.refuse(40001, "dimensions / metrics / filters / order_by 参数错误");
        }
        let (level, id_dim) = if dims.iter().any(|d| d == "cdp_project_id") {
            (ReportLevel::Campaign, Some("cdp_project_id"))
        } else if dims.iter().any(|d| d == "cdp_promotion_id") {
            (ReportLevel::Ad, Some("cdp_promotion_id"))
        } else {
            (ReportLevel::Advertiser, None)
        };
        let items = self
            .report_rows(&advertiser, day, level)
            .into_iter()
            .map(|r| {
                let mut dimensions = Out::obj([("stat_time_day", Out::str(day.to_string()))]);
                if let Some(d) = id_dim {
                    dimensions = dimensions.with(d, Out::str(&r.id));
                }
                // The custom report gives metrics as strings.
                Out::obj([
                    ("dimensions", dimensions),
                    (
                        "metrics",
                        Out::obj([
                            ("stat_cost", Out::str(&r.cost)),
                            ("show_cnt", Out::str(r.show.to_string())),
                            ("click_cnt", Out::str(r.click.to_string())),
                            ("convert_cnt", Out::str(r.convert.to_string())),
                        ]),
                    ),
                ])
            })
            .collect();
        self.page_of(req, items, "rows")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Campaign,
    Ad,
    Project,
    Promotion,
}
