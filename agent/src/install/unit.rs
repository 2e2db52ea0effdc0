//! The systemd unit. Its text is `infra/systemd/hostwatch-agent.service`,
//! embedded at build time so the file in the repository and the one `install`
//! writes never disagree. The .deb ships the same text with the package's binary
//! path (`infra/deb/hostwatch-agent.service`; a test keeps the two equal).

use super::layout;

pub const TEMPLATE: &str = include_str!("../../../infra/systemd/hostwatch-agent.service");

/// The unit for a binary at `binary` (as the installed system sees it).
pub fn render(binary: &str) -> String {
    TEMPLATE.replace(layout::BINARY, binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_runs_the_installed_binary_with_the_installed_config() {
        let exec = format!("ExecStart={} --config {}\n", layout::BINARY, layout::CONFIG);
        assert!(TEMPLATE.contains(&exec), "template lacks {exec:?}");
        assert!(TEMPLATE.contains(&format!("User={}\n", layout::USER)));
        assert!(TEMPLATE.contains(&format!("ReadWritePaths={}\n", layout::STATE_DIR)));
        let state = layout::STATE_DIR.trim_start_matches("/var/lib/");
        assert!(TEMPLATE.contains(&format!("StateDirectory={state}\n")));
        let deb = render(layout::PACKAGED_BINARY);
        assert!(deb.contains(&format!("ExecStart={} --config", layout::PACKAGED_BINARY)));
        assert!(!deb.contains(layout::BINARY));
    }

    /// Guards the .deb's copy of the unit against drifting from the template.
    #[test]
    fn the_packaged_unit_is_the_template_with_the_packaged_binary() {
        let deb = include_str!("../../../infra/deb/hostwatch-agent.service");
        assert_eq!(
            deb,
            render(layout::PACKAGED_BINARY),
            "regenerate it: sed 's#{}#{}#' infra/systemd/hostwatch-agent.service > infra/deb/hostwatch-agent.service",
            layout::BINARY,
            layout::PACKAGED_BINARY
        );
    }
}
