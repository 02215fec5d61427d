//! `tsmd token`: makes a bearer token and the `[[api.tokens]]` table that grants it.
//!
//! The secret is 256 random bits from the system (`api::auth::new_token`); tsmd's config
//! holds only its SHA-256, which is safe for such a token (nothing to guess) and would not
//! be for a password. `--stdin` hashes a token the operator made instead; it must be at
//! least 32 characters.

use std::collections::BTreeSet;
use std::io::BufRead;

use api::auth::{new_token, GroupScope, Right, TokenHash, TokenSpec};

use super::cli::TokenArgs;
use super::settings::tokens_toml;

/// The shortest token `--stdin` accepts.
pub const MIN_TOKEN_LEN: usize = 32;

/// What `tsmd token` prints, or why it cannot.
pub fn run(args: &TokenArgs, input: &mut dyn BufRead) -> Result<String, String> {
    let groups = GroupScope::from_list(&args.groups).map_err(|e| format!("--group: {e}"))?;
    let rights = args
        .rights
        .iter()
        .flat_map(|r| r.split(','))
        .map(|r| {
            r.trim()
                .parse::<Right>()
                .map_err(|e| format!("--right: {e}"))
        })
        .collect::<Result<BTreeSet<Right>, String>>()?;
    if args.name.trim().is_empty() {
        return Err("--name must not be empty".to_owned());
    }
    let (secret, generated) = if args.stdin {
        let mut line = String::new();
        input
            .read_line(&mut line)
            .map_err(|e| format!("reading the token from standard input: {e}"))?;
        let t = line.trim().to_owned();
        if t.len() < MIN_TOKEN_LEN || t.chars().any(|c| !c.is_ascii_graphic()) {
            return Err(format!(
                "the token must be at least {MIN_TOKEN_LEN} visible ASCII characters of \
                 random text (tsmd stores an unsalted SHA-256 of it)"
            ));
        }
        (t, false)
    } else {
        (new_token()?, true)
    };
    let spec = TokenSpec {
        name: args.name.trim().to_owned(),
        hash: TokenHash::of(&secret),
        groups,
        rights,
    };
    let mut out = String::new();
    if generated {
        out.push_str(
            "# The token: give it to the client (Authorization: Bearer ...). tsmd keeps\n",
        );
        out.push_str("# only its hash; it cannot be shown again.\n");
        out.push_str(&secret);
        out.push('\n');
    }
    out.push_str("\n# Add to the tsmd config file:");
    out.push_str(&tokens_toml(std::slice::from_ref(&spec)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::daemon::settings::{Overrides, Settings};

    fn args(stdin: bool) -> TokenArgs {
        TokenArgs {
            name: "storage".into(),
            groups: vec!["storage".into(), "hpc".into()],
            rights: vec!["subsets,claims".into()],
            stdin,
        }
    }

    #[test]
    fn the_printed_table_loads_and_matches_the_secret() {
        let out = run(&args(false), &mut std::io::empty()).unwrap();
        let secret = out
            .lines()
            .find(|l| l.starts_with("tsm_"))
            .unwrap()
            .to_owned();
        assert_eq!(secret.len(), 4 + 64);
        let table = out.split_once("config file:").unwrap().1;
        let s = Settings::from_parts(None, Some(table), &Overrides::default()).unwrap();
        assert_eq!(s.tokens.len(), 1);
        assert_eq!(s.tokens[0].hash, TokenHash::of(&secret));
        assert!(s.tokens[0].groups.allows("hpc"));
        assert!(!s.tokens[0].groups.allows("other"));
        assert_eq!(s.tokens[0].rights.len(), 2);
        // Two runs, two secrets.
        let again = run(&args(false), &mut std::io::empty()).unwrap();
        assert_ne!(again, out);
    }

    #[test]
    fn stdin_tokens_are_hashed_not_printed_and_must_be_long() {
        let t = "0123456789abcdef0123456789abcdef";
        let out = run(&args(true), &mut format!("{t}\n").as_bytes()).unwrap();
        assert!(!out.contains(t));
        assert!(out.contains(&TokenHash::of(t).to_string()));
        assert!(run(&args(true), &mut "short\n".as_bytes()).is_err());
        let mut bad = args(false);
        bad.rights = vec!["root".into()];
        assert!(run(&bad, &mut std::io::empty()).is_err());
    }
}
