//! The few interface words a rendered page needs, per locale.

use serde::Serialize;

use crate::model::Locale;

/// Interface strings of one locale.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Ui {
    pub skip: &'static str,
    pub menu: &'static str,
    pub nav: &'static str,
    pub languages: &'static str,
    pub call: &'static str,
    pub inquire: &'static str,
    pub open_map: &'static str,
    pub no_articles: &'static str,
    pub pc_version: &'static str,
}

pub(crate) fn ui(locale: Locale) -> Ui {
    match locale {
        Locale::ZhCn => Ui {
            skip: "跳到正文",
            menu: "菜单",
            nav: "主导航",
            languages: "语言",
            call: "电话咨询",
            inquire: "在线询盘",
            open_map: "在地图中查看",
            no_articles: "暂无文章",
            pc_version: "电脑版",
        },
        Locale::En => Ui {
            skip: "Skip to content",
            menu: "Menu",
            nav: "Main navigation",
            languages: "Languages",
            call: "Call us",
            inquire: "Inquire",
            open_map: "Open in a map",
            no_articles: "No articles yet",
            pc_version: "Desktop version",
        },
    }
}
