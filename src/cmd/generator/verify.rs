// SPDX-License-Identifier: LGPL-2.1-or-later
//! The check after writing: each unit loaded again with the output directory in the search
//! path must run the binding first.

use super::parallel::map_ordered;
use super::plan::Check;
use crate::unit::catalog::Catalog;
use crate::unit::effective_list;
use crate::unit::load::load_with;

/// Loads each checked unit again through `catalog` (which sees the written output) and returns a
/// message for every check that fails.
pub fn verify(catalog: &Catalog, checks: &[Check]) -> Vec<String> {
    map_ordered(checks, |c| match load_with(catalog, &c.load_name) {
        Ok(u) => {
            let list = effective_list(u.values(&c.section, &c.key));
            let first = list.first().map(|a| a.value.as_str());
            (first != Some(c.first.as_str())).then(|| {
                format!(
                    "{}: cannot guarantee that the binding comes first: after generation the first {}= is {}",
                    c.unit,
                    c.key,
                    first.map_or("(none)".to_string(), |f| format!("\"{f}\""))
                )
            })
        }
        Err(e) => Some(format!(
            "{}: cannot verify the generated drop-in: {}",
            c.unit,
            e.to_string().replace('\n', ": ")
        )),
    })
    .into_iter()
    .flatten()
    .collect()
}
