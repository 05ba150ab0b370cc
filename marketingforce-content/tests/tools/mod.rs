//! Helpers shared by the tests that need system tools.

/// A system tool a test needs is missing: under CI (`MARKETINGFORCE_CI`, set by `.ci/run`, which
/// installs it from `.ci/apt-packages`) that is a failure; anywhere else the test is skipped
/// with a message, so the README's test command passes on a bare machine.
pub fn skip_without(what: &str, why: impl std::fmt::Display) {
    assert!(
        std::env::var_os("MARKETINGFORCE_CI").is_none() && std::env::var_os("CI").is_none(),
        "{what} is missing under CI: {why}"
    );
    eprintln!("skipped: {what} is not installed ({why}); `.ci/run` installs it");
}
