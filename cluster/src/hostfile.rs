//! The hostfile: the processes of a cluster, one `host:port` per line, in process
//! order. Blank lines and lines starting with `#` are skipped.

use std::fmt;

/// A parsed hostfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hostfile {
    addresses: Vec<String>,
}

/// What is wrong with a hostfile, naming the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostfileError {
    #[error("the hostfile lists no process")]
    Empty,
    #[error("hostfile line {line}: '{text}' is not host:port ({reason})")]
    BadLine {
        line: usize,
        text: String,
        reason: &'static str,
    },
    #[error("hostfile line {line}: {address} is listed twice (also on line {first})")]
    Duplicate {
        line: usize,
        first: usize,
        address: String,
    },
    #[error("process {process} is out of range: the hostfile lists {processes} processes (0 to {last})", last = processes - 1)]
    ProcessOutOfRange { process: usize, processes: usize },
}

impl Hostfile {
    /// Parses a hostfile's text.
    pub fn parse(text: &str) -> Result<Hostfile, HostfileError> {
        let mut addresses: Vec<String> = Vec::new();
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let bad = |reason| HostfileError::BadLine {
                line,
                text: entry.chars().take(80).collect(),
                reason,
            };
            let (host, port) = entry.rsplit_once(':').ok_or_else(|| bad("no port"))?;
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(bad("no host"));
            }
            match port.parse::<u16>() {
                Ok(0) | Err(_) => return Err(bad("the port must be a number from 1 to 65535")),
                Ok(_) => {}
            }
            if let Some(first) = addresses.iter().position(|a| a == entry) {
                return Err(HostfileError::Duplicate {
                    line,
                    first: lines[first],
                    address: entry.to_owned(),
                });
            }
            addresses.push(entry.to_owned());
            lines.push(line);
        }
        if addresses.is_empty() {
            return Err(HostfileError::Empty);
        }
        Ok(Hostfile { addresses })
    }

    /// A hostfile for the processes of a StatefulSet, one per entry of `ports` (process
    /// `i`'s mesh port): `name-i.service:port`, with this process's own line (`own`) the
    /// address it listens on, `bind:port` (such as `0.0.0.0:7000`).
    pub fn render(name: &str, service: &str, bind: &str, ports: &[u16], own: usize) -> String {
        ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                if i == own {
                    format!("{bind}:{port}\n")
                } else {
                    format!("{name}-{i}.{service}:{port}\n")
                }
            })
            .collect()
    }

    /// How many processes the cluster has.
    pub fn processes(&self) -> usize {
        self.addresses.len()
    }

    /// Every address, in process order.
    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }

    /// Checks that `process` is one of the hostfile's processes.
    pub fn check_process(&self, process: usize) -> Result<(), HostfileError> {
        if process < self.processes() {
            Ok(())
        } else {
            Err(HostfileError::ProcessOutOfRange {
                process,
                processes: self.processes(),
            })
        }
    }

    /// The address of process `process`.
    pub fn address(&self, process: usize) -> &str {
        &self.addresses[process]
    }
}

impl fmt::Display for Hostfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for a in &self.addresses {
            writeln!(f, "{a}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_comments_and_blanks() {
        let h = Hostfile::parse("# cluster\n127.0.0.1:7000\n\n  node-1.nano:7000  \n[::1]:7002\n")
            .unwrap();
        assert_eq!(
            h.addresses(),
            ["127.0.0.1:7000", "node-1.nano:7000", "[::1]:7002"]
        );
        assert_eq!(h.processes(), 3);
        assert!(h.check_process(2).is_ok());
    }

    #[test]
    fn bad_lines_are_named() {
        let cases = [
            ("127.0.0.1", 1, "no port"),
            ("a:1\n:7000", 2, "no host"),
            ("a:1\nb:x", 2, "the port must be"),
            ("a:0", 1, "the port must be"),
            ("a:70000", 1, "the port must be"),
        ];
        for (text, line, reason) in cases {
            let err = Hostfile::parse(text).unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains(&format!("line {line}")) && message.contains(reason),
                "{text:?}: {message}"
            );
        }
        assert_eq!(Hostfile::parse("# nothing\n\n"), Err(HostfileError::Empty));
        let dup = Hostfile::parse("a:1\nb:2\na:1").unwrap_err();
        assert_eq!(
            dup.to_string(),
            "hostfile line 3: a:1 is listed twice (also on line 1)"
        );
    }

    #[test]
    fn a_process_beyond_the_hostfile_is_refused_clearly() {
        let h = Hostfile::parse("a:1\nb:2").unwrap();
        assert_eq!(
            h.check_process(2).unwrap_err().to_string(),
            "process 2 is out of range: the hostfile lists 2 processes (0 to 1)"
        );
    }

    #[test]
    fn rendering_gives_every_peer_by_name_and_this_process_a_bind_address() {
        let text = Hostfile::render("nano", "nano-peers", "0.0.0.0", &[7000; 3], 1);
        assert_eq!(
            text,
            "nano-0.nano-peers:7000\n0.0.0.0:7000\nnano-2.nano-peers:7000\n"
        );
        assert_eq!(Hostfile::parse(&text).unwrap().processes(), 3);
        // Pods that share one network: each its own port.
        let text = Hostfile::render("nano", "nano-peers", "127.0.0.1", &[7001, 7002], 0);
        assert_eq!(text, "127.0.0.1:7001\nnano-1.nano-peers:7002\n");
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,200}") {
            let _ = Hostfile::parse(&text);
        }

        #[test]
        fn rendered_hostfiles_parse(processes in 1usize..50, own in 0usize..50, port in 1u16..) {
            let own = own % processes;
            let h = Hostfile::parse(&Hostfile::render("n", "s", "0.0.0.0", &vec![port; processes], own)).unwrap();
            prop_assert_eq!(h.processes(), processes);
            prop_assert_eq!(h.address(own), format!("0.0.0.0:{port}"));
        }
    }
}
