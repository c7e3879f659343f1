//! Golden files: the exact bytes of every tag a stream has written, one file per tag, checked
//! by each stream's test (test code: compiled for tests and with the `golden` feature only).
//!
//! A file is `{dir}/{tag}-{name}-v{version}.hex`: comment lines starting with `#`, then the
//! bytes in hex, 16 a line, each line followed by its printable characters between `|`
//! (ignored when read). Hex text rather than raw bytes so that a fixture is readable in a
//! review and in a diff, and stays text to git.
//!
//! [`Golden::check`] fails when a tag of the stream's table has no file, when a file has no
//! tag, when the domain event of the tag's latest version no longer encodes to its file's
//! bytes, or when a file does not decode (through the upcasters, for an old version) to its
//! expected event. With `GOLDEN_UPDATE=1` it first writes the files that are missing, from
//! the samples; it never rewrites a file that exists, so a changed encoding still fails: it
//! must be a new version (docs/journal-format.md, "Adding or changing an event").

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::fs;
use std::path::{Path, PathBuf};

use super::{Stream, WireType};

/// The environment variable that lets [`Golden::check`] write missing files.
pub const UPDATE_VAR: &str = "GOLDEN_UPDATE";

/// One stream's golden files and what they must hold.
pub struct Golden<E: 'static> {
    pub stream: &'static Stream<E>,
    /// The directory of the stream's files, e.g. `core/tests/golden/events/run`.
    pub dir: PathBuf,
    /// One event of every kind the stream writes today: exactly one for each latest
    /// version in the table.
    pub samples: Vec<E>,
    /// For each tag that holds an older version: the domain event its file decodes to.
    pub upcast: Vec<(u16, E)>,
    /// The domain's tag and encoding (`RunEvent::tag`, `RunEvent::encode`).
    pub tag: fn(&E) -> u16,
    pub encode: fn(&E) -> Vec<u8>,
}

impl<E: PartialEq + Debug> Golden<E> {
    /// Checks every tag of the stream against its file; panics naming every problem.
    pub fn check(&self) {
        let update = std::env::var(UPDATE_VAR).is_ok_and(|value| value == "1");
        let mut problems = self.check_table();
        let mut expected: Vec<Option<&E>> = vec![None; self.stream.wire_types.len()];
        for sample in &self.samples {
            let tag = (self.tag)(sample);
            match self.index_of(tag) {
                Some(i) if self.is_latest(&self.stream.wire_types[i]) => {
                    if expected[i].replace(sample).is_some() {
                        problems.push(format!("two samples have tag {}", tag));
                    }
                }
                Some(_) => problems.push(format!(
                    "the sample {sample:?} encodes to tag {}, which is not its event's latest version",
                    tag
                )),
                None => problems.push(format!(
                    "the sample {sample:?} has tag {}, which the stream's table does not list",
                    tag
                )),
            }
        }
        for (tag, event) in &self.upcast {
            match self.index_of(*tag) {
                Some(i) if !self.is_latest(&self.stream.wire_types[i]) => {
                    if expected[i].replace(event).is_some() {
                        problems.push(format!("two expected events for old tag {tag}"));
                    }
                }
                _ => problems.push(format!(
                    "{tag} in `upcast` is not the tag of an old version"
                )),
            }
        }
        for (wire_type, expected) in self.stream.wire_types.iter().zip(expected) {
            problems.extend(self.check_file(wire_type, expected, update).err());
        }
        problems.extend(self.stray_files());
        assert!(
            problems.is_empty(),
            "golden files of {} events ({}):\n- {}",
            self.stream.kind,
            self.dir.display(),
            problems.join("\n- ")
        );
    }

    /// Tags strictly increasing; each event's versions 1, 2, ... without a gap.
    fn check_table(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let types = self.stream.wire_types;
        for pair in types.windows(2) {
            if pair[0].tag >= pair[1].tag {
                problems.push(format!(
                    "tags {} and {} out of order",
                    pair[0].tag, pair[1].tag
                ));
            }
        }
        for wire_type in types {
            let versions: BTreeSet<u16> = types
                .iter()
                .filter(|other| other.name == wire_type.name)
                .map(|other| other.version)
                .collect();
            let max = versions.iter().max().copied().unwrap_or(0);
            if versions.len() != usize::from(max) || !versions.contains(&1) {
                problems.push(format!(
                    "{}'s versions {versions:?} have a gap",
                    wire_type.name
                ));
            }
        }
        problems
    }

    fn index_of(&self, tag: u16) -> Option<usize> {
        self.stream
            .wire_types
            .iter()
            .position(|wire_type| wire_type.tag == tag)
    }

    fn is_latest(&self, wire_type: &WireType<E>) -> bool {
        !self
            .stream
            .wire_types
            .iter()
            .any(|other| other.name == wire_type.name && other.version > wire_type.version)
    }

    fn file_name(wire_type: &WireType<E>) -> String {
        format!(
            "{}-{}-v{}.hex",
            wire_type.tag, wire_type.name, wire_type.version
        )
    }

    /// The file of one tag: present (written when missing, if asked and possible), equal to
    /// the sample's encoding for a latest version, and decoding to the expected event.
    fn check_file(
        &self,
        wire_type: &WireType<E>,
        expected: Option<&E>,
        update: bool,
    ) -> Result<(), String> {
        let path = self.dir.join(Self::file_name(wire_type));
        let tag = wire_type.tag;
        let Some(expected) = expected else {
            return Err(if self.is_latest(wire_type) {
                format!("tag {tag} ({}) has no sample", wire_type.name)
            } else {
                format!(
                    "old tag {tag} ({}) has no expected event in `upcast`",
                    wire_type.name
                )
            });
        };
        let latest = self.is_latest(wire_type);
        if !path.exists() {
            if !(update && latest) {
                return Err(format!(
                    "tag {tag} has no golden file {}{}",
                    path.display(),
                    if latest {
                        " (run the test with GOLDEN_UPDATE=1 to write it)"
                    } else {
                        ""
                    }
                ));
            }
            let header = format!(
                "# Duro golden event: {} tag {tag}, {} version {}.\n\
                 # Written once by GOLDEN_UPDATE=1; never edit it: a changed encoding is a new version.\n",
                self.stream.kind, wire_type.name, wire_type.version
            );
            write(&path, &header, &(self.encode)(expected))?;
        }
        let bytes = read(&path)?;
        if latest {
            let encoded = (self.encode)(expected);
            if encoded != bytes {
                return Err(format!(
                    "{} (tag {tag}) no longer encodes to {}: an encoding that changes is a new \
                     version under a new tag, with an upcaster from this one\n  file:    {}\n  now:     {}",
                    wire_type.name,
                    path.display(),
                    hex_line(&bytes),
                    hex_line(&encoded)
                ));
            }
        }
        match self.stream.decode(tag, &bytes) {
            Ok(decoded) if &decoded == expected => Ok(()),
            Ok(decoded) => Err(format!(
                "{} decodes to {decoded:?}, expected {expected:?}",
                path.display()
            )),
            Err(error) => Err(format!("{} does not decode: {error}", path.display())),
        }
    }

    /// Files in the directory that belong to no tag of the table.
    fn stray_files(&self) -> Vec<String> {
        let known: BTreeSet<String> = self.stream.wire_types.iter().map(Self::file_name).collect();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| !known.contains(name))
            .map(|name| {
                format!(
                    "{name} in {} is no tag of the table: a released tag keeps its decoder",
                    self.dir.display()
                )
            })
            .collect()
    }
}

/// The bytes of a golden file.
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    let text = fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    parse(&text).map_err(|error| format!("{}: {error}", path.display()))
}

/// The bytes of a golden file's text: hex pairs, `#` lines and everything after a `|`
/// ignored.
pub fn parse(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let hex = line.split('|').next().unwrap_or_default();
        for pair in hex.split_whitespace() {
            let byte = u8::from_str_radix(pair, 16)
                .ok()
                .filter(|_| pair.len() == 2)
                .ok_or_else(|| format!("{pair:?} is not a byte in hex"))?;
            bytes.push(byte);
        }
    }
    Ok(bytes)
}

/// The text of a golden file: `header`, then `bytes` 16 a line with their printable
/// characters.
pub fn render(header: &str, bytes: &[u8]) -> String {
    let mut text = header.to_owned();
    text.push_str(&format!("# bytes: {}\n", bytes.len()));
    for chunk in bytes.chunks(16) {
        let hex: Vec<String> = chunk.iter().map(|byte| format!("{byte:02x}")).collect();
        let printable: String = chunk
            .iter()
            .map(|&byte| {
                if byte.is_ascii_graphic() || byte == b' ' {
                    char::from(byte)
                } else {
                    '.'
                }
            })
            .collect();
        text.push_str(&format!("{:<47}  |{printable}|\n", hex.join(" ")));
    }
    text
}

fn write(path: &Path, header: &str, bytes: &[u8]) -> Result<(), String> {
    let error = |error: std::io::Error| format!("writing {}: {error}", path.display());
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(error)?;
    }
    fs::write(path, render(header, bytes)).map_err(error)
}

fn hex_line(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_bytes_parse_back() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = render("# all bytes\n", &bytes);
        assert_eq!(parse(&text), Ok(bytes));
        assert_eq!(parse("02 04 73 74  |..st|\n"), Ok(vec![2, 4, 0x73, 0x74]));
        assert!(parse("0g").is_err());
        assert!(parse("abc").is_err());
    }
}
