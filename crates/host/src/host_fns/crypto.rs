//! Password hashing: argon2id with OWASP's parameters for new hashes; verification of argon2id and
//! legacy bcrypt hashes, with the cost parameters of stored hashes capped so a hostile hash fails
//! closed quickly; a dummy verification of equal cost for unknown users.

use std::sync::OnceLock;

use a2e_abi as abi;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::CallCtx;
use crate::error::FnError;

/// Longest password accepted, in bytes; longer ones are refused before any hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Policy: argon2id m=19456 KiB, t=2, p=1 (OWASP).
pub const POLICY_M_KIB: u32 = 19_456;
/// Policy iterations.
pub const POLICY_T: u32 = 2;
/// Policy parallelism.
pub const POLICY_P: u32 = 1;
/// Stored argon2 hashes asking for more memory than this (KiB) are refused.
pub const MAX_STORED_M_KIB: u32 = 65_536;
/// Stored argon2 hashes asking for more iterations than this are refused.
pub const MAX_STORED_T: u32 = 10;
/// Stored argon2 hashes asking for more lanes than this are refused.
pub const MAX_STORED_P: u32 = 4;
/// Stored bcrypt hashes with a higher cost than this are refused.
pub const MAX_BCRYPT_COST: u32 = 13;
/// bcrypt reads only this many bytes of a password; longer passwords never match a bcrypt hash.
pub const BCRYPT_MAX_BYTES: usize = 72;

fn policy() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(POLICY_M_KIB, POLICY_T, POLICY_P, None).expect("policy params"),
    )
}

/// Hashes `password` with the policy and a salt from `salt_bytes`.
pub fn hash_password(password: &str, salt_bytes: &[u8; 16]) -> Result<String, FnError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(FnError::invalid(format!("password must be 1 to {MAX_PASSWORD_BYTES} bytes")));
    }
    let salt = SaltString::encode_b64(salt_bytes).map_err(|e| FnError::internal("salt encoding", e))?;
    policy()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| FnError::internal("password hashing", e))
}

/// A hash of a random password, verified against when there is no user, so that "unknown user"
/// costs the same as "wrong password".
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        hash_password("a2e dummy password for timing equality", &salt).expect("dummy hash")
    })
}

/// Computes the dummy hash ahead of the first login so that login does not pay for it.
pub(crate) const DUMMY_HASH_WARMUP: fn() = || {
    dummy_hash();
};

/// Verifies `password` against a stored hash. Returns (valid, needs_rehash).
/// Malformed, unknown or over-cost hashes verify as false.
pub fn verify_password(password: &str, stored: Option<&str>) -> Result<(bool, bool), FnError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(FnError::invalid(format!("password must be at most {MAX_PASSWORD_BYTES} bytes")));
    }
    let Some(stored) = stored.filter(|s| !s.is_empty()) else {
        let _ = verify_argon2(password, dummy_hash());
        return Ok((false, false));
    };
    if is_bcrypt(stored) {
        return Ok(verify_bcrypt(password, stored));
    }
    match verify_argon2(password, stored) {
        Some((valid, weak)) => Ok((valid, valid && weak)),
        None => {
            // Unparseable or over-cost: spend the usual time, then fail closed.
            let _ = verify_argon2(password, dummy_hash());
            Ok((false, false))
        }
    }
}

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| stored.starts_with(p))
}

fn verify_bcrypt(password: &str, stored: &str) -> (bool, bool) {
    let cost: Option<u32> = stored.get(4..6).and_then(|c| c.parse().ok());
    if cost.is_none_or(|c| c > MAX_BCRYPT_COST) || password.len() > BCRYPT_MAX_BYTES {
        return (false, false);
    }
    let valid = bcrypt::verify(password, stored).unwrap_or(false);
    // Every legacy hash is replaced by argon2id after a successful login.
    (valid, valid)
}

/// Returns None when the hash is not an acceptable argon2 hash; else (valid, weaker than policy).
fn verify_argon2(password: &str, stored: &str) -> Option<(bool, bool)> {
    let parsed = PasswordHash::new(stored).ok()?;
    if parsed.algorithm.as_str() != "argon2id" {
        return None;
    }
    let params = Params::try_from(&parsed).ok()?;
    if params.m_cost() > MAX_STORED_M_KIB || params.t_cost() > MAX_STORED_T || params.p_cost() > MAX_STORED_P {
        return None;
    }
    let weak = params.m_cost() < POLICY_M_KIB || params.t_cost() < POLICY_T || parsed.version != Some(0x13);
    let valid = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
    Some((valid, weak))
}

pub(super) fn crypto_hash_password(ctx: &CallCtx, req: abi::HashPassword) -> Result<abi::PasswordHash, FnError> {
    let mut salt = [0u8; 16];
    ctx.state.random.fill(&mut salt);
    Ok(abi::PasswordHash { hash: hash_password(&req.password, &salt)? })
}

pub(super) fn crypto_verify_password(_ctx: &CallCtx, req: abi::VerifyPassword) -> Result<abi::PasswordCheck, FnError> {
    let (valid, needs_rehash) = verify_password(&req.password, req.hash.as_deref())?;
    Ok(abi::PasswordCheck { valid, needs_rehash })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_hashes_are_owasp_argon2id_and_salted() {
        let a = hash_password("correct horse", &[1; 16]).unwrap();
        let b = hash_password("correct horse", &[2; 16]).unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert_eq!(verify_password("correct horse", Some(&a)).unwrap(), (true, false));
        assert_eq!(verify_password("wrong horse", Some(&a)).unwrap(), (false, false));
    }

    #[test]
    fn unicode_passwords_are_kept_byte_exact() {
        let pw = "pässwörd 🔑 with spaces";
        let h = hash_password(pw, &[3; 16]).unwrap();
        assert!(verify_password(pw, Some(&h)).unwrap().0);
        assert!(!verify_password("pa\u{0308}sswörd 🔑 with spaces", Some(&h)).unwrap().0, "NFD form differs");
        assert!(!verify_password(pw.trim_end_matches('s'), Some(&h)).unwrap().0);
    }

    #[test]
    fn no_truncation_of_long_passwords() {
        let pw = "x".repeat(100);
        let h = hash_password(&pw, &[4; 16]).unwrap();
        assert!(!verify_password(&pw[..72], Some(&h)).unwrap().0);
        assert!(verify_password(&pw, Some(&h)).unwrap().0);
        assert!(hash_password(&"y".repeat(MAX_PASSWORD_BYTES + 1), &[0; 16]).is_err());
    }

    #[test]
    fn legacy_bcrypt_verifies_and_asks_for_rehash() {
        let h = bcrypt::hash("legacy pass", 4).unwrap();
        assert_eq!(verify_password("legacy pass", Some(&h)).unwrap(), (true, true));
        assert_eq!(verify_password("wrong", Some(&h)).unwrap(), (false, false));
        let y = h.replacen("$2b$", "$2y$", 1);
        assert!(verify_password("legacy pass", Some(&y)).unwrap().0);
    }

    #[test]
    fn bcrypt_over_72_bytes_never_matches() {
        let long = "z".repeat(80);
        let h = bcrypt::hash(&long[..72], 4).unwrap();
        assert!(verify_password(&long[..72], Some(&h)).unwrap().0);
        assert!(!verify_password(&long, Some(&h)).unwrap().0);
    }

    #[test]
    fn hostile_hashes_fail_closed() {
        let cost31 = "$2b$31$abcdefghijklmnopqrstuuJ0XJ6Ny5bZpj9tD4gKhRfNgD3Vb5r6W";
        let huge_m = "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A";
        for hostile in [cost31, huge_m, "garbage", "$argon2id$", "$2b$"] {
            // An uncapped cost-31 bcrypt or 4 GiB argon2 verification would not return in any
            // reasonable time; the caps make these return at once.
            assert_eq!(verify_password("pw", Some(hostile)).unwrap(), (false, false), "{hostile}");
        }
        assert_eq!(verify_password("pw", Some("")).unwrap(), (false, false));
        assert_eq!(verify_password("pw", None).unwrap(), (false, false));
    }

    #[test]
    fn weaker_argon2_asks_for_rehash() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap());
        let salt = SaltString::encode_b64(&[5; 16]).unwrap();
        let h = weak.hash_password(b"pw-pw-pw", &salt).unwrap().to_string();
        assert_eq!(verify_password("pw-pw-pw", Some(&h)).unwrap(), (true, true));
    }
}
