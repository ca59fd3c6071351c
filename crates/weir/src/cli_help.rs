//! A test that walks clap's command tree: every subcommand and every argument a person
//! can type has help text (`weir variables set --help` explains each of its words).

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    fn missing(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || matches!(id, "help" | "version") {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} <{id}>"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            let here = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() && sub.get_long_about().is_none() {
                out.push(here.clone());
            }
            missing(sub, &here, out);
        }
    }

    #[test]
    fn every_subcommand_and_argument_has_help() {
        let mut out = Vec::new();
        missing(&crate::cli::Cli::command(), "weir", &mut out);
        assert!(out.is_empty(), "without help text:\n{}", out.join("\n"));
    }
}
