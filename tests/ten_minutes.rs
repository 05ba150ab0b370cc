//! The README's ten-minute example: the README shows `examples/ten_minutes.rs` verbatim, it
//! stays short, and it runs — twice over one SQLite file, as a reader rerunning it would —
//! onboarding a platform, a customer and a console-run account, and settling last month's spend
//! to the revenue it asserts (5% from the platform − 3% to the customer of 1,000.00).

#[path = "../examples/ten_minutes.rs"]
mod ten_minutes;

const BEGIN: &str = "<!-- examples/ten_minutes.rs: begin -->\n```rust\n";
const END: &str = "```\n<!-- examples/ten_minutes.rs: end -->";

#[test]
fn the_readme_shows_the_example_verbatim() {
    let readme = include_str!("../README.md");
    let file = include_str!("../examples/ten_minutes.rs");
    let start = readme.find(BEGIN).expect("the README marks the example") + BEGIN.len();
    let end = readme[start..]
        .find(END)
        .expect("the README ends the example")
        + start;
    assert_eq!(
        &readme[start..end],
        file,
        "the README's ten-minute example differs from examples/ten_minutes.rs: copy the file \
         between the markers"
    );
}

/// A ratchet on the example's length (`wc -l`, rustfmt-formatted): it may shrink, never grow.
/// Issue 11 asks for at most 40 lines, which it now is: what remains is business input (the
/// terms, the dossier, the campaign's plan, the export), one statement per line.
const MAX_LINES: usize = 40;

#[test]
fn the_example_stays_short() {
    let lines = include_str!("../examples/ten_minutes.rs").lines().count();
    assert!(
        lines <= MAX_LINES,
        "examples/ten_minutes.rs has {lines} lines, more than {MAX_LINES}"
    );
}

#[test]
fn the_example_runs_and_settles_twice_over_one_file() {
    ten_minutes::main().expect("first run");
    ten_minutes::main().expect("a second run over the same file");
}
