//! Who may do what: reads are free; edits and commands need a yes — given up front
//! (`ask --allow edit,run`), for the rest of the session (the REPL's "always"), or call
//! by call.

use std::collections::BTreeSet;

/// The permission a tool needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Reading and searching the project: always allowed.
    Read,
    /// Writing files.
    Edit,
    /// Running commands.
    Run,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Edit => "edit",
            Class::Run => "run",
        }
    }

    /// `edit` or `run` (the classes that can be allowed).
    pub fn parse(name: &str) -> Option<Class> {
        match name.trim() {
            "edit" => Some(Class::Edit),
            "run" => Some(Class::Run),
            _ => None,
        }
    }
}

/// The user's answer to "may I?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Yes,
    No,
    /// Yes, and to every call of this class for the rest of the session.
    Always,
}

/// The classes allowed without asking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    allowed: BTreeSet<Class>,
}

impl Permissions {
    pub fn new(allowed: impl IntoIterator<Item = Class>) -> Permissions {
        Permissions { allowed: allowed.into_iter().collect() }
    }

    /// Whether `class` runs without asking.
    pub fn allows(&self, class: Class) -> bool {
        class == Class::Read || self.allowed.contains(&class)
    }

    /// Allows `class` from now on.
    pub fn allow(&mut self, class: Class) {
        self.allowed.insert(class);
    }

    /// Parses `--allow edit,run`; the error names the unknown class.
    pub fn parse_list(list: &str) -> Result<Vec<Class>, String> {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                Class::parse(s)
                    .ok_or_else(|| format!("unknown permission `{}` (edit, run)", s.trim()))
            })
            .collect()
    }
}
