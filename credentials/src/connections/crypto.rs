//! Encryption of connection secrets at rest: XChaCha20-Poly1305 (an AEAD) under one 32-byte
//! data key, a fresh random 24-byte nonce per encryption, and caller-given associated data
//! (the connection) that the ciphertext is bound to: a sealed secret moved to another
//! connection, a flipped byte or another key all fail to open.
//!
//! The data key comes from `DURO_SECRET_KEY` (64 hex digits, or the base64 of 32 bytes) or,
//! without it, from the key file `{data_dir}/secret.key` (32 raw bytes, mode 0600), created
//! with random bytes on first start. Why an AEAD and a key file: docs/decisions/0006.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// Bytes in a data key.
pub const KEY_BYTES: usize = 32;
/// Bytes in an XChaCha20-Poly1305 nonce.
pub const NONCE_BYTES: usize = 24;
/// Bytes of a key's fingerprint stored beside each ciphertext.
pub const FINGERPRINT_BYTES: usize = 8;
/// The environment variable holding the data key.
pub const ENV_VAR: &str = "DURO_SECRET_KEY";
/// The key file's name in the data directory.
pub const KEY_FILE: &str = "secret.key";

/// What the fingerprint hashes before the key, so it is no other use's hash of the key.
const FINGERPRINT_DOMAIN: &[u8] = b"duro secret key fingerprint v1\0";

/// The data key. Never printed (its `Debug` shows only the fingerprint); zeroed when dropped.
#[derive(Clone)]
pub struct SecretKey([u8; KEY_BYTES]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(fingerprint {})", self.fingerprint_hex())
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A secret as stored: which key sealed it, the nonce, the ciphertext with its tag.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The first bytes of the sealing key's fingerprint: tells "another key" from "altered".
    pub key_fingerprint: [u8; FINGERPRINT_BYTES],
    pub nonce: [u8; NONCE_BYTES],
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_fingerprint", &hex(&self.key_fingerprint))
            .field("ciphertext_bytes", &self.ciphertext.len())
            .finish()
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Sealed under another data key than the one in use.
    #[error("it was encrypted under data key {sealed_with}, but the key in use is {in_use} (was DURO_SECRET_KEY or the key file secret.key changed?)")]
    WrongKey { sealed_with: String, in_use: String },
    /// The right key, but the ciphertext, nonce or associated data do not match.
    #[error(
        "it does not authenticate: the stored ciphertext was altered or belongs to something else"
    )]
    Tampered,
    #[error("encryption failed")]
    Encrypt,
}

/// A data key that could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    #[error("{ENV_VAR} must be 64 hex digits or the base64 of 32 bytes; it is neither ({len} characters)")]
    BadEnv { len: usize },
    #[error("the key file {path} must hold 32 bytes (or 64 hex digits, or base64 of 32 bytes); it has {len} bytes")]
    BadFile { path: PathBuf, len: usize },
    #[error("the key file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Where the data key in use came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
    CreatedFile(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env => write!(f, "{ENV_VAR}"),
            KeySource::File(path) => write!(f, "{}", path.display()),
            KeySource::CreatedFile(path) => write!(f, "{} (created)", path.display()),
        }
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> SecretKey {
        SecretKey(bytes)
    }

    /// A new random key (the operating system's randomness through `rand`'s thread RNG).
    pub fn generate() -> SecretKey {
        SecretKey(rand::random())
    }

    /// Parses 64 hex digits or standard base64 (padded or not) of exactly 32 bytes;
    /// surrounding whitespace is ignored. `None` for anything else.
    pub fn parse(text: &str) -> Option<SecretKey> {
        let text = text.trim();
        if text.len() == KEY_BYTES * 2 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut bytes = [0u8; KEY_BYTES];
            for (i, byte) in bytes.iter_mut().enumerate() {
                *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
            }
            return Some(SecretKey(bytes));
        }
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        for engine in engines {
            if let Ok(mut decoded) = engine.decode(text) {
                let key = <[u8; KEY_BYTES]>::try_from(decoded.as_slice())
                    .ok()
                    .map(SecretKey);
                decoded.zeroize();
                if key.is_some() {
                    return key;
                }
            }
        }
        None
    }

    /// The key from `env` (the value of `DURO_SECRET_KEY`, if set) or else from the key
    /// file in `data_dir`, which is created with 32 random bytes and mode 0600 when absent.
    /// Call it while holding the journal's lock, so no two processes create the file at once.
    pub fn resolve(
        env: Option<&str>,
        data_dir: &Path,
    ) -> Result<(SecretKey, KeySource), SecretKeyError> {
        if let Some(text) = env {
            let key = SecretKey::parse(text).ok_or(SecretKeyError::BadEnv {
                len: text.trim().chars().count(),
            })?;
            return Ok((key, KeySource::Env));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                warn_if_readable_by_others(&path);
                let key = key_from_file(&path, bytes)?;
                Ok((key, KeySource::File(path)))
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let key = SecretKey::generate();
                write_key_file(&path, &key).map_err(|source| SecretKeyError::Io {
                    path: path.clone(),
                    source,
                })?;
                Ok((key, KeySource::CreatedFile(path)))
            }
            Err(source) => Err(SecretKeyError::Io { path, source }),
        }
    }

    /// SHA-256 of a domain string and the key: names a key without revealing it.
    pub fn fingerprint(&self) -> [u8; FINGERPRINT_BYTES] {
        let mut hasher = Sha256::new();
        hasher.update(FINGERPRINT_DOMAIN);
        hasher.update(self.0);
        let digest = hasher.finalize();
        let mut out = [0u8; FINGERPRINT_BYTES];
        out.copy_from_slice(&digest[..FINGERPRINT_BYTES]);
        out
    }

    /// The fingerprint in hex, for logs and messages.
    pub fn fingerprint_hex(&self) -> String {
        hex(&self.fingerprint())
    }

    /// Encrypts `plaintext` bound to `associated_data` under a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Sealed, CryptoError> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let ciphertext = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        Ok(Sealed {
            key_fingerprint: self.fingerprint(),
            nonce,
            ciphertext,
        })
    }

    /// Decrypts `sealed`, which must have been sealed by this key with `associated_data`.
    pub fn open(&self, sealed: &Sealed, associated_data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let ours = self.fingerprint();
        if sealed.key_fingerprint != ours {
            return Err(CryptoError::WrongKey {
                sealed_with: hex(&sealed.key_fingerprint),
                in_use: hex(&ours),
            });
        }
        self.cipher()
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: associated_data,
                },
            )
            .map_err(|_| CryptoError::Tampered)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }
}

fn key_from_file(path: &Path, mut bytes: Vec<u8>) -> Result<SecretKey, SecretKeyError> {
    let len = bytes.len();
    let key = match <[u8; KEY_BYTES]>::try_from(bytes.as_slice()) {
        Ok(raw) => Some(SecretKey(raw)),
        // Also accepted: a key written by hand as text.
        Err(_) => std::str::from_utf8(&bytes).ok().and_then(SecretKey::parse),
    };
    bytes.zeroize();
    key.ok_or_else(|| SecretKeyError::BadFile {
        path: path.to_owned(),
        len,
    })
}

/// Writes the key to a temporary file with mode 0600, syncs it, renames it into place and
/// syncs the directory: the key file is either absent or whole.
fn write_key_file(path: &Path, key: &SecretKey) -> io::Result<()> {
    let temporary = path.with_extension("key.tmp");
    match std::fs::remove_file(&temporary) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(&key.0)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "the secret key file is readable by others; chmod 600 it"
                );
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const AD: &[u8] = b"connection:conn_1";

    #[test]
    fn a_sealed_secret_opens_to_itself() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"sk_live_123", AD).expect("seal");
        assert_ne!(sealed.ciphertext.as_slice(), b"sk_live_123".as_slice());
        assert_eq!(key.open(&sealed, AD).expect("open"), b"sk_live_123");
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let key = SecretKey::generate();
        let first = key.seal(b"same", AD).expect("seal");
        let second = key.seal(b"same", AD).expect("seal");
        assert_ne!(first.nonce, second.nonce);
        assert_ne!(first.ciphertext, second.ciphertext);
    }

    #[test]
    fn any_flipped_byte_fails_to_open() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"sk_live_123", AD).expect("seal");
        for i in 0..sealed.ciphertext.len() {
            let mut altered = sealed.clone();
            altered.ciphertext[i] ^= 0x01;
            assert_eq!(
                key.open(&altered, AD),
                Err(CryptoError::Tampered),
                "byte {i}"
            );
        }
        let mut altered = sealed.clone();
        altered.nonce[0] ^= 0x80;
        assert_eq!(key.open(&altered, AD), Err(CryptoError::Tampered));
        let mut truncated = sealed;
        truncated.ciphertext.truncate(3);
        assert_eq!(key.open(&truncated, AD), Err(CryptoError::Tampered));
    }

    #[test]
    fn another_key_fails_to_open() {
        let sealed = SecretKey::generate()
            .seal(b"sk_live_123", AD)
            .expect("seal");
        let other = SecretKey::generate();
        assert!(matches!(
            other.open(&sealed, AD),
            Err(CryptoError::WrongKey { .. })
        ));
        // Even with the fingerprint forged to match, the tag does not.
        let mut forged = sealed;
        forged.key_fingerprint = other.fingerprint();
        assert_eq!(other.open(&forged, AD), Err(CryptoError::Tampered));
    }

    #[test]
    fn the_associated_data_binds_the_secret_to_its_connection() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"sk_live_123", AD).expect("seal");
        assert_eq!(
            key.open(&sealed, b"connection:conn_2"),
            Err(CryptoError::Tampered)
        );
        assert_eq!(key.open(&sealed, b""), Err(CryptoError::Tampered));
    }

    #[test]
    fn keys_parse_from_hex_and_base64_only() {
        let bytes: [u8; KEY_BYTES] = std::array::from_fn(|i| i as u8);
        let hex_text = hex(&bytes);
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let b64_bare = b64.trim_end_matches('=');
        for text in [hex_text.as_str(), &hex_text.to_uppercase(), &b64, b64_bare] {
            let key = SecretKey::parse(&format!(" {text}\n")).expect(text);
            assert_eq!(key.0, bytes);
        }
        assert!(SecretKey::parse("").is_none());
        assert!(SecretKey::parse(&hex_text[..62]).is_none());
        assert!(
            SecretKey::parse(&base64::engine::general_purpose::STANDARD.encode([1u8; 31]))
                .is_none()
        );
        assert!(SecretKey::parse("not a key at all").is_none());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = SecretKey::from_bytes([0xab; KEY_BYTES]);
        let shown = format!("{key:?}");
        assert!(!shown.contains("abab"), "{shown}");
        assert!(shown.contains(&key.fingerprint_hex()));
    }

    #[test]
    fn the_env_wins_and_a_bad_env_is_an_error_that_hides_it() {
        let dir = tempfile::tempdir().expect("dir");
        let text = hex(&[7u8; KEY_BYTES]);
        let (key, source) = SecretKey::resolve(Some(&text), dir.path()).expect("key");
        assert_eq!(key.0, [7u8; KEY_BYTES]);
        assert_eq!(source, KeySource::Env);
        assert!(!dir.path().join(KEY_FILE).exists());
        let error = SecretKey::resolve(Some("hunter2-hunter2"), dir.path()).expect_err("bad");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn the_key_file_is_created_once_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let (created, source) = SecretKey::resolve(None, dir.path()).expect("create");
        let path = dir.path().join(KEY_FILE);
        assert_eq!(source, KeySource::CreatedFile(path.clone()));
        assert_eq!(std::fs::read(&path).expect("read").len(), KEY_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (loaded, source) = SecretKey::resolve(None, dir.path()).expect("load");
        assert_eq!(source, KeySource::File(path.clone()));
        assert_eq!(loaded.0, created.0);

        std::fs::write(&path, b"short").expect("write");
        assert!(matches!(
            SecretKey::resolve(None, dir.path()),
            Err(SecretKeyError::BadFile { len: 5, .. })
        ));
    }
}
