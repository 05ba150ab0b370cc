//! A generator of harder duplicates for the matching evaluation: people recorded several times
//! with keyboard and phonetic typos, transpositions, swapped given/family names, missing
//! fields, address variants, nicknames, homophone characters in Chinese names, and
//! same-name-different-person traps in other cities. Deterministic for a seed; writes a
//! labelled CSV (the `cluster` column is the true person) that `scripts/splink_compare.py`
//! reads.

use std::fmt::Write as _;

use marketingforce_core::id::splitmix64;

/// One generated record (plain text: the data is synthetic).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub id: usize,
    /// The true person.
    pub cluster: usize,
    pub given: String,
    pub family: String,
    /// `YYYY-MM-DD` or empty.
    pub dob: String,
    pub postcode: String,
    pub address: String,
    pub region: String,
    pub company: String,
    pub mobile: String,
    pub email: String,
    /// Whether the name is Chinese (family name first).
    pub cjk: bool,
}

pub const COLUMNS: &str =
    "unique_id,cluster,given_name,family_name,dob,postcode,address,region,company,mobile,email";

const GIVEN: &[&str] = &[
    "lachlan",
    "james",
    "oliver",
    "william",
    "jack",
    "noah",
    "thomas",
    "henry",
    "charlotte",
    "olivia",
    "amelia",
    "isla",
    "mia",
    "ava",
    "grace",
    "chloe",
    "sophie",
    "emily",
    "joshua",
    "benjamin",
    "samuel",
    "daniel",
    "matthew",
    "michael",
    "christopher",
    "jessica",
    "rebecca",
    "elizabeth",
    "katherine",
    "jennifer",
    "alexander",
    "nicholas",
    "jonathan",
    "patrick",
    "stephanie",
    "victoria",
    "zoe",
    "ruby",
    "harrison",
    "lucas",
    "ethan",
    "liam",
    "hannah",
    "madison",
    "abigail",
    "caitlin",
    "bridget",
    "declan",
    "hamish",
    "angus",
];
const NICK: &[(&str, &str)] = &[
    ("william", "bill"),
    ("james", "jim"),
    ("thomas", "tom"),
    ("elizabeth", "liz"),
    ("katherine", "kate"),
    ("jennifer", "jenny"),
    ("alexander", "alex"),
    ("nicholas", "nick"),
    ("jonathan", "jon"),
    ("michael", "mike"),
    ("christopher", "chris"),
    ("benjamin", "ben"),
    ("samuel", "sam"),
    ("daniel", "dan"),
    ("matthew", "matt"),
    ("rebecca", "becky"),
    ("victoria", "vicky"),
    ("joshua", "josh"),
    ("patrick", "paddy"),
    ("stephanie", "steph"),
];
const FAMILY: &[&str] = &[
    "reid",
    "smith",
    "jones",
    "williams",
    "brown",
    "wilson",
    "taylor",
    "johnson",
    "white",
    "martin",
    "anderson",
    "thompson",
    "nguyen",
    "thomas",
    "walker",
    "harris",
    "lee",
    "ryan",
    "robinson",
    "kelly",
    "king",
    "davis",
    "wright",
    "evans",
    "roberts",
    "green",
    "hall",
    "wood",
    "jackson",
    "clarke",
    "mitchell",
    "campbell",
    "stewart",
    "morrison",
    "macdonald",
    "oconnor",
    "sullivan",
    "murphy",
    "obrien",
    "fraser",
    "hughes",
    "edwards",
    "cooper",
    "turner",
    "parker",
    "collins",
    "bennett",
    "phillips",
    "richardson",
    "chapman",
];
const STREETS: &[&str] = &[
    "george",
    "king",
    "queen",
    "elizabeth",
    "victoria",
    "albert",
    "church",
    "high",
    "station",
    "park",
    "railway",
    "william",
    "john",
    "main",
    "bridge",
    "hill",
    "river",
    "forest",
    "ocean",
    "mountain",
    "wattle",
    "banksia",
    "acacia",
    "jacaranda",
];
const STREET_TYPES: &[(&str, &str)] = &[
    ("street", "st"),
    ("road", "rd"),
    ("avenue", "ave"),
    ("drive", "dr"),
    ("place", "pl"),
    ("crescent", "cres"),
];
const SUBURBS: &[(&str, &str, u32)] = &[
    ("belconnen", "act", 2617),
    ("braddon", "act", 2612),
    ("parramatta", "nsw", 2150),
    ("bondi", "nsw", 2026),
    ("newtown", "nsw", 2042),
    ("fitzroy", "vic", 3065),
    ("geelong", "vic", 3220),
    ("carlton", "vic", 3053),
    ("fortitude valley", "qld", 4006),
    ("toowoomba", "qld", 4350),
    ("fremantle", "wa", 6160),
    ("glenelg", "sa", 5045),
    ("hobart", "tas", 7000),
    ("darwin", "nt", 800),
];
const CN_FAMILY: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "欧阳",
];
const CN_GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "建华", "志强", "玉兰", "海燕", "浩然", "子涵", "欣怡", "宇轩", "梓萱", "思远", "雨桐", "佳琪",
    "博文", "嘉怡", "晓东", "立新", "春梅", "国庆",
];
/// Homophones (same pinyin, different character): a common way Chinese names are mistyped.
const HOMOPHONES: &[(char, char)] = &[
    ('伟', '玮'),
    ('丽', '莉'),
    ('敏', '民'),
    ('静', '晶'),
    ('军', '君'),
    ('华', '化'),
    ('明', '铭'),
    ('杰', '洁'),
    ('涛', '韬'),
    ('娟', '鹃'),
    ('强', '蔷'),
    ('芳', '方'),
    ('海', '凯'),
    ('国', '果'),
];
const CN_CITIES: &[(&str, u32)] = &[
    ("上海", 200_000),
    ("北京", 100_000),
    ("广州", 510_000),
    ("深圳", 518_000),
    ("杭州", 310_000),
    ("南京", 210_000),
    ("苏州", 215_000),
    ("成都", 610_000),
    ("武汉", 430_000),
    ("西安", 710_000),
];
const CN_ROADS: &[&str] = &[
    "中山", "人民", "解放", "建设", "和平", "新华", "长江", "黄河", "延安", "南京",
];
const CN_CO: &[&str] = &[
    "恒达机械",
    "华东重工",
    "瑞康电子",
    "盛通科技",
    "博源信息技术",
    "嘉诚建材",
    "宏峰化工",
    "鼎晟医疗器械",
    "信驰食品",
    "联越物流",
    "天捷汽车配件",
    "金邦新能源",
    "鑫峰机械",
];
/// Keyboard neighbours on a QWERTY layout.
const KEYS: &[(char, &str)] = &[
    ('a', "qwsz"),
    ('b', "vghn"),
    ('c', "xdfv"),
    ('d', "serfcx"),
    ('e', "wsdr"),
    ('f', "drtgvc"),
    ('g', "ftyhbv"),
    ('h', "gyujnb"),
    ('i', "ujko"),
    ('j', "huikmn"),
    ('k', "jiolm"),
    ('l', "kop"),
    ('m', "njk"),
    ('n', "bhjm"),
    ('o', "iklp"),
    ('p', "ol"),
    ('q', "wa"),
    ('r', "edft"),
    ('s', "awedxz"),
    ('t', "rfgy"),
    ('u', "yhji"),
    ('v', "cfgb"),
    ('w', "qase"),
    ('x', "zsdc"),
    ('y', "tghu"),
    ('z', "asx"),
];
/// Phonetic misspellings: (written, heard as).
const PHONETIC: &[(&str, &str)] = &[
    ("ph", "f"),
    ("c", "k"),
    ("ck", "k"),
    ("ie", "y"),
    ("y", "ie"),
    ("ll", "l"),
    ("tt", "t"),
    ("ss", "s"),
    ("ou", "ow"),
    ("ei", "ie"),
    ("th", "t"),
    ("s", "z"),
    ("an", "en"),
    ("er", "a"),
];

/// Generator settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Records to generate.
    pub records: usize,
    /// Share of records that are duplicates of an earlier person.
    pub duplicate_rate: f64,
    /// Share of new people who share an earlier person's name (in another place).
    pub same_name_rate: f64,
    /// Share of people with Chinese names (captured with a company).
    pub cjk_rate: f64,
    pub seed: u64,
}

pub struct Gen {
    cfg: Config,
    state: u64,
}

impl Gen {
    pub fn new(cfg: Config) -> Gen {
        Gen {
            cfg,
            state: cfg.seed,
        }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix64(self.state)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    fn person(&mut self, cluster: usize, like: Option<&Row>) -> Row {
        let cjk = like.map_or_else(|| self.chance(self.cfg.cjk_rate), |r| r.cjk);
        let (y, m, d) = (
            1940 + self.below(65),
            1 + self.below(12),
            1 + self.below(28),
        );
        let mut r = Row {
            id: 0,
            cluster,
            dob: format!("{y:04}-{m:02}-{d:02}"),
            cjk,
            ..Row::default()
        };
        if cjk {
            r.given = self.pick(CN_GIVEN).to_string();
            r.family = self.pick(CN_FAMILY).to_string();
            let (city, pc) = self.pick(CN_CITIES);
            r.region = city.to_string();
            r.postcode = format!("{}", pc + 10 * self.below(60) as u32);
            r.address = format!(
                "{}{}路{}号{}室",
                city,
                self.pick(CN_ROADS),
                1 + self.below(300),
                101 + self.below(20)
            );
            r.company = format!("{}{}有限公司", city, self.pick(CN_CO));
            if self.chance(0.5) {
                r.company = format!("{}{}{}有限公司", city, self.pick(CN_CO), self.below(50));
            }
        } else {
            r.given = self.pick(GIVEN).to_string();
            r.family = self.pick(FAMILY).to_string();
            let (suburb, state, pc) = self.pick(SUBURBS);
            r.region = state.to_string();
            r.postcode = format!("{:04}", pc + self.below(3) as u32);
            let (st, _) = self.pick(STREET_TYPES);
            r.address = format!(
                "{} {} {}, {}",
                1 + self.below(200),
                self.pick(STREETS),
                st,
                suburb
            );
            if self.chance(0.15) {
                r.company = format!("{} {} pty ltd", self.pick(FAMILY), self.pick(STREETS));
            }
        }
        if let Some(l) = like {
            r.given = l.given.clone();
            r.family = l.family.clone();
        }
        // Unique identifiers per person.
        let id = splitmix64(self.cfg.seed ^ cluster as u64);
        if self.chance(0.5) {
            r.mobile = format!("1{}{:09}", 3 + id % 7, (id >> 8) % 1_000_000_000);
        }
        if self.chance(0.4) {
            r.email = format!("p{cluster}.{}@mail{}.example", id % 1000, id % 7);
        }
        r
    }

    fn typo_latin(&mut self, s: &str) -> String {
        let mut c: Vec<char> = s.chars().collect();
        if c.len() < 3 {
            return s.to_string();
        }
        let at = 1 + self.below(c.len() - 1);
        match self.below(5) {
            // Keyboard slip: a neighbouring key.
            0 => {
                if let Some((_, near)) = KEYS.iter().find(|(k, _)| *k == c[at]) {
                    let n: Vec<char> = near.chars().collect();
                    c[at] = n[self.below(n.len())];
                }
            }
            // Transposition.
            1 => {
                let i = at.min(c.len() - 2);
                c.swap(i, i + 1);
            }
            // Deletion.
            2 => {
                c.remove(at);
            }
            // Insertion (doubled letter).
            3 => {
                let x = c[at];
                c.insert(at, x);
            }
            // Phonetic misspelling, or a keyboard slip when none applies.
            _ => {
                let (from, to) = self.pick(PHONETIC);
                if s.contains(from) {
                    return s.replacen(from, to, 1);
                }
                if let Some((_, near)) = KEYS.iter().find(|(k, _)| *k == c[at]) {
                    let n: Vec<char> = near.chars().collect();
                    c[at] = n[self.below(n.len())];
                }
            }
        }
        c.into_iter().collect()
    }

    fn typo_cjk(&mut self, s: &str) -> String {
        let mut out = String::new();
        let mut done = false;
        for ch in s.chars() {
            if !done {
                if let Some((_, h)) = HOMOPHONES.iter().find(|(a, _)| *a == ch) {
                    out.push(*h);
                    done = true;
                    continue;
                }
            }
            out.push(ch);
        }
        out
    }

    fn duplicate(&mut self, orig: &Row) -> Row {
        let mut r = orig.clone();
        // Identifiers are often missing on a second contact.
        if self.chance(0.6) {
            r.mobile.clear();
        }
        if self.chance(0.7) {
            r.email.clear();
        }
        let damage = 1 + self.below(3);
        for _ in 0..damage {
            match self.below(10) {
                0 | 1 => {
                    r.given = if r.cjk {
                        self.typo_cjk(&r.given)
                    } else {
                        self.typo_latin(&r.given)
                    }
                }
                2 => {
                    r.family = if r.cjk {
                        self.typo_cjk(&r.family)
                    } else {
                        self.typo_latin(&r.family)
                    }
                }
                3 => std::mem::swap(&mut r.given, &mut r.family),
                4 => {
                    if let Some((_, n)) = NICK.iter().find(|(g, _)| *g == r.given) {
                        r.given = n.to_string();
                    } else {
                        r.given = r.given.chars().take(1).collect();
                    }
                }
                5 => {
                    // A missing field.
                    match self.below(4) {
                        0 => r.dob.clear(),
                        1 => r.postcode.clear(),
                        2 => r.address.clear(),
                        _ => r.given.clear(),
                    }
                }
                6 => {
                    // Address variant: abbreviation, number typo or a dropped part.
                    if r.cjk {
                        r.address = r.address.replace('路', "路 ").replacen(&r.region, "", 1);
                    } else {
                        let mut a = r.address.clone();
                        for (long, short) in STREET_TYPES {
                            if a.contains(long) {
                                a = a.replacen(long, short, 1);
                                break;
                            }
                        }
                        if self.chance(0.5) {
                            a = a.split(", ").next().unwrap_or("").to_string();
                        }
                        r.address = a;
                    }
                }
                7 => {
                    // Date of birth: a digit, or day and month swapped.
                    if r.dob.len() == 10 {
                        let (y, m, d) = (&r.dob[..4], &r.dob[5..7], &r.dob[8..10]);
                        r.dob = if self.chance(0.5) && d <= "12" {
                            format!("{y}-{d}-{m}")
                        } else {
                            let yy: u32 = y.parse().unwrap_or(1980) + 1 + self.below(9) as u32;
                            format!("{yy:04}-{m}-{d}")
                        };
                    }
                }
                8 => {
                    // Postcode digit.
                    let mut p: Vec<char> = r.postcode.chars().collect();
                    if let Some(last) = p.last_mut() {
                        *last = char::from(b'0' + self.below(10) as u8);
                    }
                    r.postcode = p.into_iter().collect();
                }
                _ => {
                    if r.cjk {
                        r.company = r.company.replace("有限公司", "");
                    } else {
                        r.region.clear();
                    }
                }
            }
        }
        r
    }

    /// Generate the rows.
    pub fn generate(&mut self) -> Vec<Row> {
        let mut people: Vec<Row> = Vec::new();
        let mut rows = Vec::with_capacity(self.cfg.records);
        for id in 0..self.cfg.records {
            let dup = !people.is_empty() && self.chance(self.cfg.duplicate_rate);
            let mut row = if dup {
                let p = people[self.below(people.len())].clone();
                self.duplicate(&p)
            } else {
                let cluster = people.len();
                let like = if !people.is_empty() && self.chance(self.cfg.same_name_rate) {
                    Some(people[self.below(people.len())].clone())
                } else {
                    None
                };
                let p = self.person(cluster, like.as_ref());
                people.push(p.clone());
                p
            };
            row.id = id;
            rows.push(row);
        }
        rows
    }
}

fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// The rows as CSV with a header.
pub fn to_csv(rows: &[Row]) -> String {
    let mut out = String::with_capacity(rows.len() * 120);
    out.push_str(COLUMNS);
    out.push('\n');
    for r in rows {
        let _ = write!(out, "{},{},", r.id, r.cluster);
        for (i, f) in [
            &r.given,
            &r.family,
            &r.dob,
            &r.postcode,
            &r.address,
            &r.region,
            &r.company,
            &r.mobile,
            &r.email,
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                out.push(',');
            }
            csv_field(&mut out, f);
        }
        out.push('\n');
    }
    out
}
