// SPDX-License-Identifier: LGPL-2.1-or-later
//! A unit as the launcher sees it: loaded from disk and evaluated, with the command to exec.
//! Shared by the launcher modes and `show`.

use std::path::{Path, PathBuf};

use crate::unit::env;
use crate::unit::eval::{self, BindEval, Discovery, DiscoveryError, EvalContext};
use crate::unit::exec;
use crate::unit::load::{self, LoadError};
use crate::unit::specifier::{LazyHostFacts, SpecifierContext};
use crate::unit::LoadedUnit;

/// systemd's fixed `PATH` for commands given by plain name (the system manager's default
/// search path): `ExecStart=sshd` is looked up here, never in the caller's `$PATH`.
pub const SYSTEMD_EXEC_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub struct UnitConfig {
    pub loaded: LoadedUnit,
    pub bind: BindEval,
    pub discovery: Result<Discovery, DiscoveryError>,
}

/// The command to execute, `$VAR` expanded: what `execve` gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub path: PathBuf,
    pub argv: Vec<String>,
}

/// Reads and evaluates `name` below `root`. `systemd_version` is the running manager's (it
/// decides, e.g., whether the `|` prefix exists).
pub fn read(root: &Path, name: &str, systemd_version: u32) -> Result<UnitConfig, LoadError> {
    let loaded = load::load(root, name)?;
    let facts = LazyHostFacts::new(root);
    let fragment = loaded
        .fragment
        .as_ref()
        .map(|f| f.to_string_lossy().into_owned());
    let mut spec = SpecifierContext::lazy(&loaded.name, &facts);
    spec.fragment_path = fragment.as_deref();
    let ctx = EvalContext::new(spec, systemd_version);
    let bind = eval::evaluate_bind(&loaded, &ctx);
    let discovery = eval::discover_exec_start_full(&loaded, &ctx, &eval::is_bindif_launch);
    Ok(UnitConfig {
        loaded,
        bind,
        discovery,
    })
}

impl UnitConfig {
    pub fn interface(&self) -> Option<&str> {
        self.bind.interface.value.as_deref()
    }

    /// The one command the launcher stands in for, with `$VAR`/`${VAR}` expanded from `env`
    /// unless the `:` prefix says not to, as systemd does at exec time.
    pub fn launch(&self, env: &[(String, String)]) -> Result<Launch, DiscoveryError> {
        let discovery = self.discovery.as_ref().map_err(Clone::clone)?;
        let commands: Vec<exec::ExecCommand> = discovery
            .commands
            .iter()
            .map(|c| c.command.clone())
            .collect();
        let cmd = eval::single_command(&commands)?;
        let argv = if cmd.flags.no_env_expand {
            cmd.argv.clone()
        } else {
            env::expand_env(&cmd.argv, env)
        };
        Ok(Launch {
            path: PathBuf::from(&cmd.path),
            argv,
        })
    }
}
