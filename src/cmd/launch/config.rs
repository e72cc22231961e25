// SPDX-License-Identifier: LGPL-2.1-or-later
//! A unit as the launcher sees it: loaded from disk and evaluated, with the command to exec.
//! Shared by the launcher modes and `show`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::unit::catalog::Catalog;
use crate::unit::env;
use crate::unit::eval::{self, BindEval, Discovery, DiscoveryError, EvalContext};
use crate::unit::exec;
use crate::unit::load::{self, UnitLoadError};
use crate::unit::paths::SearchPath;
use crate::unit::specifier::{LazyHostFacts, SpecifierContext};
use crate::unit::LoadedUnit;

/// systemd's fixed `PATH` for commands given by plain name (the system manager's default
/// search path): `ExecStart=sshd` is looked up here, never in the caller's `$PATH`.
pub const SYSTEMD_EXEC_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub struct UnitConfig {
    pub loaded: LoadedUnit,
    pub bind: BindEval,
    pub discovery: Result<Discovery, DiscoveryError>,
    /// What the unit's `Environment=` lines set (see [`eval::evaluate_environment`]).
    pub environment: Vec<(String, String)>,
}

/// The command to execute, `$VAR` expanded: what `execve` gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub path: PathBuf,
    pub argv: Vec<String>,
}

/// Reads and evaluates `name` below `root` as the launcher must, on systemd's default search
/// path. `systemd_version` is the running manager's (it decides, e.g., whether the `|` prefix
/// exists).
///
/// `$SYSTEMD_UNIT_PATH` is never taken from our environment here (issue 13 #8): in unit mode
/// and in the `ExecStartPre=+… --attach` step that environment is the *service's*
/// (`Environment=`, `EnvironmentFile=`), not PID 1's, so honouring it would let whoever can
/// write an environment file point the launcher at another unit file and unbind the unit.
/// PID 1 itself runs with the default search path on every supported host.
pub fn read(root: &Path, name: &str, systemd_version: u32) -> Result<UnitConfig, UnitLoadError> {
    read_on(
        SearchPath::system_with_env(root, None),
        name,
        systemd_version,
    )
}

/// [`read`] on a given search path: `show` passes [`SearchPath::system`], which honours
/// `$SYSTEMD_UNIT_PATH` as `systemd-analyze` does for an offline look at a tree.
pub fn read_on(
    search: SearchPath,
    name: &str,
    systemd_version: u32,
) -> Result<UnitConfig, UnitLoadError> {
    let root = search.root().to_path_buf();
    let loaded = load::load_with(&Catalog::new(search), name)?;
    let facts = LazyHostFacts::new(&root);
    let fragment = loaded
        .fragment
        .as_ref()
        .map(|f| f.to_string_lossy().into_owned());
    let mut spec = SpecifierContext::lazy(&loaded.name, &facts);
    spec.fragment_path = fragment.as_deref();
    let ctx = EvalContext::new(spec, systemd_version);
    let bind = eval::evaluate_bind(&loaded, &ctx);
    let discovery = eval::discover_exec_start_full(&loaded, &ctx, &eval::is_bindif_launch);
    let environment = eval::evaluate_environment(&loaded, &ctx);
    Ok(UnitConfig {
        loaded,
        bind,
        discovery,
        environment,
    })
}

impl UnitConfig {
    pub fn interface(&self) -> Option<&str> {
        self.bind.interface.value.as_deref()
    }

    /// The one command the launcher stands in for, with `$VAR`/`${VAR}` expanded from `env`
    /// unless the `:` prefix says not to, as systemd does at exec time.
    pub fn launch(&self, env: &[(String, String)]) -> Result<Launch, DiscoveryError> {
        self.launch_in(&Environment {
            vars: env.to_vec(),
            not_utf8: Vec::new(),
        })
    }

    /// [`UnitConfig::launch`] in an environment read from the process ([`environment`]): a
    /// command that expands a variable whose value is not UTF-8 is refused.
    pub fn launch_in(&self, env: &Environment) -> Result<Launch, DiscoveryError> {
        let cmd = self.command()?;
        let argv = if cmd.flags.no_env_expand {
            cmd.argv.clone()
        } else {
            let r = env::expand_env_full(&cmd.argv, env.vars.as_slice());
            // Those variables were left out of `vars`, so they show up as unset.
            if let Some(n) = r.unset.iter().find(|n| env.not_utf8.contains(n)) {
                return Err(DiscoveryError::EnvNotUtf8(n.clone()));
            }
            r.argv
        };
        Ok(Launch {
            path: PathBuf::from(&cmd.path),
            argv,
        })
    }

    /// The command as systemd would run it, for `show`: the `$VAR`s the unit's `Environment=`
    /// sets are expanded (systemd expands them at exec time); the others, which only the run
    /// time knows (`EnvironmentFile=`, `PassEnvironment=`, the manager's own variables), stay as
    /// written instead of vanishing, and are returned by name.
    pub fn shown_command(&self) -> Result<(Launch, Vec<String>), DiscoveryError> {
        let cmd = self.command()?;
        if cmd.flags.no_env_expand {
            let launch = Launch {
                path: PathBuf::from(&cmd.path),
                argv: cmd.argv.clone(),
            };
            return Ok((launch, Vec::new()));
        }
        let r = env::expand_env_known(&cmd.argv, self.environment.as_slice());
        let launch = Launch {
            path: PathBuf::from(&cmd.path),
            argv: r.argv,
        };
        Ok((launch, r.unset))
    }

    /// The one command the launcher stands in for, `$VAR` not expanded.
    fn command(&self) -> Result<exec::ExecCommand, DiscoveryError> {
        let discovery = self.discovery.as_ref().map_err(Clone::clone)?;
        let commands: Vec<exec::ExecCommand> = discovery
            .commands
            .iter()
            .map(|c| c.command.clone())
            .collect();
        eval::single_command(&commands).cloned()
    }
}

/// An environment to expand a command's `$VAR`s from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    pub vars: Vec<(String, String)>,
    /// Names whose value is not UTF-8: left out of `vars`, and a command using one is refused.
    pub not_utf8: Vec<String>,
}

/// This process's environment, as systemd handed it to the service. Read with
/// `std::env::vars_os()`: `std::env::vars()` panics on bytes that are not UTF-8, and a PAM
/// environment can carry them (issue 13 #4).
pub fn environment() -> Environment {
    environment_from(std::env::vars_os())
}

/// [`environment`] from given variables. A name that is not UTF-8 is left out: it cannot be a
/// valid variable name, so no `$VAR` can refer to it.
pub fn environment_from(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Environment {
    let mut env = Environment::default();
    for (k, v) in vars {
        let Ok(k) = k.into_string() else {
            continue;
        };
        match v.into_string() {
            Ok(v) => env.vars.push((k, v)),
            Err(_) => env.not_utf8.push(k),
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn environment_with_bytes_that_are_not_utf8() {
        let os = |b: &[u8]| OsString::from_vec(b.to_vec());
        let env = environment_from([
            (os(b"A"), os(b"one")),
            (os(b"X"), os(b"\xff")),
            (os(b"\xfe"), os(b"v")),
        ]);
        assert_eq!(env.vars, [("A".to_string(), "one".to_string())]);
        assert_eq!(env.not_utf8, ["X"]);
    }
}
