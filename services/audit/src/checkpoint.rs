//! Signed checkpoints of the chain head, kept outside the database.
//!
//! Whoever can write to the database could cut off the tail of the log, or rewrite all of
//! it with fresh hashes; the chain alone cannot show that. So after commits (at most every
//! [`INTERVAL`], and once more when the service stops) the head this process committed is
//! written to `<dir>/checkpoint-<seq>.json`:
//!
//! ```json
//! {"seq": 42, "hash": "<hex>", "time": "<RFC 3339>", "signature": "<hex>"}
//! ```
//!
//! `signature` is HMAC-SHA256 over `pmd-audit-checkpoint-v1\n<seq>\n<hash>\n<time>` with the
//! key in `<dir>/checkpoint.key` (32 random bytes as hex, created with mode 0600 when
//! absent). Files are written to a temporary name and renamed, so a reader never sees half a
//! checkpoint; the newest [`KEEP`] are kept. `Verify` compares the chain with every
//! checkpoint whose signature holds (a rewritten chain contradicts the older ones even after
//! a newer checkpoint signed the rewrite), and reports one whose signature does not.
//!
//! A head read from the database at start is not signed: only heads this process committed
//! itself, so a truncation made while the service was down is not blessed by a restart.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::watch;

use crate::chain::{Head, from_hex, to_hex};

/// Shortest time between two checkpoints.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// How many checkpoint files are kept.
pub const KEEP: usize = 100;
const KEY_FILE: &str = "checkpoint.key";
const KEY_LEN: usize = 32;
const DOMAIN: &str = "pmd-audit-checkpoint-v1";

/// A checkpoint whose signature holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub time: String,
}

/// A checkpoint file that cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub file: String,
    /// The seq its name claims.
    pub seq: i64,
    pub reason: &'static str,
}

/// What the checkpoint directory says about the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trusted {
    /// Every checkpoint whose signature holds, by seq ascending.
    pub checkpoints: Vec<Checkpoint>,
    /// The refused file with the highest seq, if any was refused.
    pub rejected: Option<Rejected>,
}

#[derive(Serialize, Deserialize)]
struct CheckpointFile {
    seq: i64,
    hash: String,
    time: String,
    signature: String,
}

/// The checkpoint directory and its key.
pub struct Checkpoints {
    dir: PathBuf,
    key: [u8; KEY_LEN],
}

impl Checkpoints {
    /// Open `dir` (created when absent), loading or creating its key.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
        })
    }

    fn mac(&self, seq: i64, hash_hex: &str, time: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length; 32 bytes never fails.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("hmac accepts any key length"));
        mac.update(format!("{DOMAIN}\n{seq}\n{hash_hex}\n{time}").as_bytes());
        mac
    }

    /// Write a signed checkpoint of `head` and prune old ones. Blocking.
    pub fn write(&self, head: &Head) -> io::Result<PathBuf> {
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let hash = to_hex(&head.hash);
        let signature = to_hex(&self.mac(head.seq, &hash, &time).finalize().into_bytes());
        let file = CheckpointFile {
            seq: head.seq,
            hash,
            time,
            signature,
        };
        let json = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
        let name = file_name(head.seq);
        let temp = self.dir.join(format!(
            ".{name}.{}.tmp",
            to_hex(&rand::random::<[u8; 8]>())
        ));
        let result = (|| {
            let mut out = fs::File::create(&temp)?;
            out.write_all(&json)?;
            out.sync_all()?;
            fs::rename(&temp, self.dir.join(&name))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result?;
        // Make the rename durable; not every platform can sync a directory.
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        self.prune()?;
        Ok(self.dir.join(name))
    }

    /// Checkpoint files by seq, newest first.
    fn files(&self) -> io::Result<Vec<(i64, PathBuf)>> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if let Some(seq) = name.to_str().and_then(seq_of_file_name) {
                files.push((seq, entry.path()));
            }
        }
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        Ok(files)
    }

    fn prune(&self) -> io::Result<()> {
        for (_, path) in self.files()?.into_iter().skip(KEEP) {
            fs::remove_file(path)?;
        }
        Ok(())
    }

    /// Every checkpoint whose signature holds, and the newest file that was refused.
    /// Blocking.
    pub fn trusted(&self) -> io::Result<Trusted> {
        let mut trusted = Trusted::default();
        for (seq, path) in self.files()? {
            let file = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            match self.read(seq, &path) {
                Ok(checkpoint) => trusted.checkpoints.push(checkpoint),
                Err(reason) => {
                    tracing::warn!(file, reason, "audit checkpoint refused");
                    if trusted.rejected.is_none() {
                        trusted.rejected = Some(Rejected { file, seq, reason });
                    }
                }
            }
        }
        trusted.checkpoints.reverse();
        Ok(trusted)
    }

    fn read(&self, seq: i64, path: &Path) -> Result<Checkpoint, &'static str> {
        let bytes = fs::read(path).map_err(|_| "unreadable")?;
        let file: CheckpointFile =
            serde_json::from_slice(&bytes).map_err(|_| "not a checkpoint document")?;
        if file.seq != seq {
            return Err("seq differs from the file name");
        }
        let signature = from_hex(&file.signature).ok_or("signature is not hex")?;
        self.mac(file.seq, &file.hash, &file.time)
            .verify_slice(&signature)
            .map_err(|_| "signature does not verify")?;
        Ok(Checkpoint {
            seq: file.seq,
            hash: from_hex(&file.hash).ok_or("hash is not hex")?,
            time: file.time,
        })
    }
}

fn file_name(seq: i64) -> String {
    format!("checkpoint-{seq}.json")
}

fn seq_of_file_name(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("checkpoint-")?.strip_suffix(".json")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn load_or_create_key(path: &Path) -> io::Result<[u8; KEY_LEN]> {
    match fs::read_to_string(path) {
        Ok(text) => parse_key(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let key: [u8; KEY_LEN] = rand::random();
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    file.write_all(format!("{}\n", to_hex(&key)).as_bytes())?;
                    file.sync_all()?;
                    tracing::info!(path = %path.display(), "audit checkpoint key created");
                    Ok(key)
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    parse_key(&fs::read_to_string(path)?)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

fn parse_key(text: &str) -> io::Result<[u8; KEY_LEN]> {
    from_hex(text.trim())
        .and_then(|bytes| <[u8; KEY_LEN]>::try_from(bytes).ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{KEY_FILE} must hold {} hex digits", KEY_LEN * 2),
            )
        })
}

/// Write a checkpoint of `head` and log the outcome; true when written. Blocking.
fn write_logged(checkpoints: &Checkpoints, head: &Head) -> bool {
    match checkpoints.write(head) {
        Ok(_) => {
            tracing::info!(seq = head.seq, hash = %to_hex(&head.hash), "audit checkpoint");
            true
        }
        Err(error) => {
            tracing::warn!(seq = head.seq, error = %error, "audit checkpoint not written");
            false
        }
    }
}

/// Owned by the checkpointer task: when the service stops, the task is aborted and dropping
/// this writes the last committed head if it is not checkpointed yet.
struct Checkpointer {
    checkpoints: Arc<Checkpoints>,
    head: watch::Receiver<Head>,
    written: i64,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let head = self.head.borrow().clone();
        if head.seq > self.written {
            write_logged(&self.checkpoints, &head);
        }
    }
}

/// The checkpointer task: writes a checkpoint after commits the writer announces, at most
/// every [`INTERVAL`].
pub fn spawn_checkpointer(
    checkpoints: Arc<Checkpoints>,
    mut head: watch::Receiver<Head>,
) -> tokio::task::JoinHandle<()> {
    let written = head.borrow_and_update().seq;
    tokio::spawn(async move {
        let mut checkpointer = Checkpointer {
            checkpoints,
            head: head.clone(),
            written,
        };
        while head.changed().await.is_ok() {
            let current = head.borrow_and_update().clone();
            if current.seq > checkpointer.written {
                let checkpoints = checkpointer.checkpoints.clone();
                let seq = current.seq;
                let written =
                    tokio::task::spawn_blocking(move || write_logged(&checkpoints, &current))
                        .await
                        .unwrap_or(false);
                if written {
                    checkpointer.written = seq;
                }
            }
            tokio::time::sleep(INTERVAL).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: i64) -> Head {
        Head {
            seq,
            hash: vec![u8::try_from(seq % 256).unwrap(); 32],
        }
    }

    #[test]
    fn a_written_checkpoint_reads_back_as_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::open(dir.path()).unwrap();
        checkpoints.write(&head(3)).unwrap();
        checkpoints.write(&head(9)).unwrap();
        let trusted = checkpoints.trusted().unwrap();
        let newest = trusted.checkpoints.last().unwrap();
        assert_eq!((newest.seq, &newest.hash), (9, &head(9).hash));
        assert_eq!(trusted.checkpoints.len(), 2);
        assert_eq!(trusted.rejected, None);
    }

    #[test]
    fn the_key_is_kept_across_opens_and_private() {
        let dir = tempfile::tempdir().unwrap();
        Checkpoints::open(dir.path())
            .unwrap()
            .write(&head(1))
            .unwrap();
        let again = Checkpoints::open(dir.path()).unwrap();
        assert_eq!(
            again.trusted().unwrap().checkpoints.last().map(|c| c.seq),
            Some(1)
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_forged_checkpoint_is_refused_and_the_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::open(dir.path()).unwrap();
        checkpoints.write(&head(5)).unwrap();
        let path = checkpoints.write(&head(8)).unwrap();
        let forged = fs::read_to_string(&path)
            .unwrap()
            .replace(&to_hex(&head(8).hash), &to_hex(&[0xee; 32]));
        fs::write(&path, forged).unwrap();
        let trusted = checkpoints.trusted().unwrap();
        assert_eq!(trusted.checkpoints.last().map(|c| c.seq), Some(5));
        let rejected = trusted.rejected.unwrap();
        assert_eq!(rejected.seq, 8);
        assert_eq!(rejected.reason, "signature does not verify");
    }

    #[test]
    fn a_checkpoint_signed_with_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let path = Checkpoints::open(other.path())
            .unwrap()
            .write(&head(4))
            .unwrap();
        fs::copy(&path, dir.path().join("checkpoint-4.json")).unwrap();
        let trusted = Checkpoints::open(dir.path()).unwrap().trusted().unwrap();
        assert_eq!(trusted.checkpoints.last(), None);
        assert_eq!(trusted.rejected.map(|r| r.seq), Some(4));
    }

    #[test]
    fn only_the_newest_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::open(dir.path()).unwrap();
        for seq in 1..=i64::try_from(KEEP).unwrap() + 5 {
            checkpoints.write(&head(seq)).unwrap();
        }
        let files = checkpoints.files().unwrap();
        assert_eq!(files.len(), KEEP);
        assert_eq!(files.last().map(|f| f.0), Some(6));
        let leftovers = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn file_names_parse_strictly() {
        assert_eq!(seq_of_file_name("checkpoint-12.json"), Some(12));
        assert_eq!(seq_of_file_name("checkpoint-.json"), None);
        assert_eq!(seq_of_file_name("checkpoint--1.json"), None);
        assert_eq!(seq_of_file_name(".checkpoint-1.json.ab.tmp"), None);
        assert_eq!(seq_of_file_name("checkpoint.key"), None);
    }
}
