//! A deterministic synthetic lead generator with planted duplicates, and the precision/recall
//! of a dedupe run against the planted truth. The benchmarks use it, so their figures can be
//! reproduced from the seed.
//!
//! ```
//! use marketingforce_crm::synth::{Synth, SynthConfig};
//!
//! let data = Synth::new(SynthConfig { leads: 1_000, duplicate_rate: 0.2, seed: 7 }).generate();
//! assert_eq!(data.len(), 1_000);
//! let planted = data.iter().filter(|l| l.duplicate.is_some()).count();
//! assert!((150..=250).contains(&planted));
//! ```

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use marketingforce_core::id::splitmix64;

use crate::model::Source;
use crate::request::CaptureRequest;

/// Generator settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthConfig {
    /// Records to generate.
    pub leads: usize,
    /// Fraction of records that are planted duplicates of an earlier person (0–1).
    pub duplicate_rate: f64,
    /// Seed.
    pub seed: u64,
}

/// How a planted duplicate differs from the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DuplicateKind {
    /// Same mobile written differently (`+86`, spaces, full-width digits), other fields vary.
    Mobile,
    /// Same email in other letter case, no mobile.
    Email,
    /// Same WeCom id, no mobile or email.
    WeCom,
    /// Same person and company written differently (suffix, region prefix, a typo), no
    /// mobile, email or WeCom id: only fuzzy matching can find it.
    Fuzzy,
}

/// One generated record.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticLead {
    /// The true person behind it.
    pub person: u32,
    /// `Some` for planted duplicates.
    pub duplicate: Option<DuplicateKind>,
    /// The capture.
    pub request: CaptureRequest,
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "欧阳", "司马",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "桂英", "建华", "文", "华", "建国", "红", "志强", "玉兰",
    "海燕", "俊", "鹏", "晨", "浩然", "子涵", "欣怡", "宇轩", "梓萱", "一诺", "思远", "雨桐",
    "佳琪", "博文", "嘉怡", "天佑", "晓东", "立新", "春梅", "国庆", "小龙",
];
const CORE_A: &[&str] = &[
    "恒", "华", "东", "瑞", "盛", "博", "嘉", "宏", "鼎", "信", "联", "天", "金", "海", "中", "新",
    "永", "正", "德", "和", "兴", "隆", "泰", "安", "元", "同", "宝", "丰", "利", "通", "达", "鑫",
    "智", "创", "科", "云", "星", "光", "远", "航",
];
const CORE_B: &[&str] = &[
    "达", "源", "泰", "通", "润", "康", "诚", "峰", "辉", "晟", "驰", "越", "捷", "邦", "宇", "汇",
    "腾", "展", "顺", "昌", "荣", "发", "诺", "凯", "乐", "森", "锦", "圣", "威", "巍",
];
const INDUSTRY: &[&str] = &[
    "机械",
    "重工",
    "电子",
    "科技",
    "信息技术",
    "建材",
    "化工",
    "医疗器械",
    "食品",
    "物流",
    "汽车配件",
    "新能源",
    "环保设备",
    "精密制造",
    "教育咨询",
    "软件",
    "纺织",
    "包装材料",
    "光电",
    "智能装备",
];
const SUFFIXES: &[&str] = &["有限公司", "股份有限公司", "有限责任公司", "集团有限公司"];
const REGIONS: &[&str] = &[
    "上海", "北京", "广州", "深圳", "杭州", "南京", "苏州", "成都", "武汉", "西安", "天津", "重庆",
];
const PRODUCTS: &[&str] = &["T-100", "T-200", "X-5", "X-7", "Pro", "Lite"];
const PREFIXES: &[&str] = &[
    "130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "158", "159",
    "176", "177", "180", "186", "187", "188", "189", "199",
];

/// The generator.
#[derive(Debug, Clone)]
pub struct Synth {
    cfg: SynthConfig,
    counter: u64,
}

#[derive(Debug, Clone)]
struct Person {
    name: String,
    mobile: Option<String>,
    email: Option<String>,
    wecom: Option<String>,
    core: String,
    suffix: &'static str,
    region: &'static str,
}

impl Synth {
    /// A generator.
    pub fn new(cfg: SynthConfig) -> Synth {
        Synth { cfg, counter: 0 }
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        splitmix64(self.cfg.seed ^ self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    fn person(&mut self, idx: u32) -> Person {
        let i = idx as u64;
        // Three people per company on average: colleagues share a company (hard negatives).
        let company = i / 3;
        let a = (company % CORE_A.len() as u64) as usize;
        let b = ((company / CORE_A.len() as u64) % CORE_B.len() as u64) as usize;
        let ind =
            ((company / (CORE_A.len() * CORE_B.len()) as u64) % INDUSTRY.len() as u64) as usize;
        let extra = company / (CORE_A.len() * CORE_B.len() * INDUSTRY.len()) as u64;
        let mut core = format!("{}{}", CORE_A[a], CORE_B[b]);
        if extra > 0 {
            core.push_str(CORE_A[(extra as usize) % CORE_A.len()]);
            core.push_str(CORE_B[(extra as usize / CORE_A.len()) % CORE_B.len()]);
        }
        core.push_str(INDUSTRY[ind]);
        let name = format!("{}{}", self.pick(SURNAMES), self.pick(GIVEN));
        // Unique mobile per person: a bijection of the index onto 8 digits, per prefix.
        let mobile_body = (i.wrapping_mul(12_345_677).wrapping_add(self.cfg.seed)) % 100_000_000;
        let prefix =
            PREFIXES[((i / 100_000_000) as usize + (self.cfg.seed as usize)) % PREFIXES.len()];
        let has_mobile = self.chance(0.85);
        let has_email = self.chance(0.5);
        let has_wecom = self.chance(0.3);
        Person {
            name,
            mobile: has_mobile.then(|| format!("{prefix}{mobile_body:08}")),
            email: has_email.then(|| format!("user{idx}.{}@corp{}.cn", i % 97, company % 1000)),
            wecom: has_wecom.then(|| format!("wm{:016x}", splitmix64(i ^ 0xabc))),
            core,
            suffix: self.pick(SUFFIXES),
            region: self.pick(REGIONS),
        }
    }

    fn fancy_mobile(&mut self, m: &str) -> String {
        match self.below(5) {
            0 => format!("+86 {} {} {}", &m[..3], &m[3..7], &m[7..]),
            1 => format!("{}-{}-{}", &m[..3], &m[3..7], &m[7..]),
            2 => m
                .chars()
                .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c))
                .collect(),
            3 => format!("0086{m}"),
            _ => m.to_string(),
        }
    }

    fn company_variant(&mut self, p: &Person) -> String {
        match self.below(4) {
            0 => format!("{}{}", p.core, self.pick(SUFFIXES)),
            1 => format!("{} {}", p.region, p.core),
            2 => {
                // One character replaced, when the name is long enough to survive it.
                let chars: Vec<char> = p.core.chars().collect();
                if chars.len() >= 6 {
                    let at = 2 + self.below(chars.len() - 3);
                    let mut v = chars.clone();
                    v[at] = '业';
                    v.into_iter().collect::<String>() + p.suffix
                } else {
                    format!("{}{}{}", p.region, p.core, p.suffix)
                }
            }
            _ => format!("（{}）{}{}", p.region, p.core, p.suffix).replace(['（', '）'], ""),
        }
    }

    fn base_time(&mut self) -> DateTime<Utc> {
        let start = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        start + Duration::minutes(self.below(60 * 24 * 180) as i64)
    }

    fn request(&mut self, p: &Person, source: Source) -> CaptureRequest {
        let mut r = CaptureRequest::new(source)
            .name(p.name.clone())
            .company(format!("{}{}{}", p.region, p.core, p.suffix))
            .region(p.region)
            .product(self.pick(PRODUCTS))
            .at(self.base_time());
        r.mobile = p.mobile.clone();
        r.email = p.email.clone();
        r.wecom_id = p.wecom.clone();
        r.campaign = Some(format!("c{}", self.below(20)));
        r
    }

    /// Generate the records: originals first seen in random order, duplicates planted after
    /// their original.
    pub fn generate(&mut self) -> Vec<SyntheticLead> {
        let n = self.cfg.leads;
        let mut out = Vec::with_capacity(n);
        let mut people: Vec<Person> = Vec::new();
        for _ in 0..n {
            let source = self.pick(&Source::ALL[..8]);
            let dup = !people.is_empty() && self.chance(self.cfg.duplicate_rate);
            if !dup {
                let idx = people.len() as u32;
                let p = self.person(idx);
                let request = self.request(&p, source);
                people.push(p);
                out.push(SyntheticLead {
                    person: idx,
                    duplicate: None,
                    request,
                });
                continue;
            }
            let idx = self.below(people.len()) as u32;
            let p = people[idx as usize].clone();
            let mut kinds = Vec::with_capacity(4);
            if p.mobile.is_some() {
                kinds.push(DuplicateKind::Mobile);
            }
            if p.email.is_some() {
                kinds.push(DuplicateKind::Email);
            }
            if p.wecom.is_some() {
                kinds.push(DuplicateKind::WeCom);
            }
            kinds.push(DuplicateKind::Fuzzy);
            kinds.push(DuplicateKind::Fuzzy);
            let kind = self.pick(&kinds);
            let mut r = CaptureRequest::new(source)
                .region(p.region)
                .at(self.base_time());
            r.product_interest.push(self.pick(PRODUCTS).to_string());
            match kind {
                DuplicateKind::Mobile => {
                    let m = p.mobile.clone().unwrap_or_default();
                    r.mobile = Some(self.fancy_mobile(&m));
                    if self.chance(0.5) {
                        r.name = Some(p.name.clone());
                    }
                }
                DuplicateKind::Email => {
                    r.email = p.email.as_ref().map(|e| e.to_uppercase());
                    r.name = Some(p.name.clone());
                }
                DuplicateKind::WeCom => {
                    r.wecom_id = p.wecom.clone();
                    r.name = Some(p.name.clone());
                }
                DuplicateKind::Fuzzy => {
                    let spaced = if self.chance(0.3) {
                        p.name
                            .chars()
                            .map(String::from)
                            .collect::<Vec<_>>()
                            .join(" ")
                    } else {
                        p.name.clone()
                    };
                    r.name = Some(spaced);
                    r.company = Some(self.company_variant(&p));
                }
            }
            out.push(SyntheticLead {
                person: idx,
                duplicate: Some(kind),
                request: r,
            });
        }
        out
    }
}

/// Pairwise quality of a dedupe run against the planted truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DedupeQuality {
    /// Pairs of records put together that belong together.
    pub true_pairs: u64,
    /// Pairs put together.
    pub predicted_pairs: u64,
    /// Pairs that belong together.
    pub actual_pairs: u64,
    /// `true_pairs / predicted_pairs`.
    pub precision: f64,
    /// `true_pairs / actual_pairs`.
    pub recall: f64,
}

/// Compare the cluster each record ended up in (`clusters[i]`, any hashable id) with the true
/// person of each record.
pub fn quality<C: std::hash::Hash + Eq + Copy>(
    records: &[SyntheticLead],
    clusters: &[C],
) -> DedupeQuality {
    let pairs = |n: u64| n * n.saturating_sub(1) / 2;
    let mut by_cluster: HashMap<C, u64> = HashMap::new();
    let mut by_person: HashMap<u32, u64> = HashMap::new();
    let mut by_both: HashMap<(C, u32), u64> = HashMap::new();
    for (r, c) in records.iter().zip(clusters) {
        *by_cluster.entry(*c).or_default() += 1;
        *by_person.entry(r.person).or_default() += 1;
        *by_both.entry((*c, r.person)).or_default() += 1;
    }
    let true_pairs: u64 = by_both.values().map(|&n| pairs(n)).sum();
    let predicted_pairs: u64 = by_cluster.values().map(|&n| pairs(n)).sum();
    let actual_pairs: u64 = by_person.values().map(|&n| pairs(n)).sum();
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    DedupeQuality {
        true_pairs,
        predicted_pairs,
        actual_pairs,
        precision: ratio(true_pairs, predicted_pairs),
        recall: ratio(true_pairs, actual_pairs),
    }
}
