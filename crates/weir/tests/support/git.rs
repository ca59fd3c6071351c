//! A Git repository made in a test, committed to with chosen authors.

use std::path::Path;
use std::process::Command;

/// A Git repository on the local disk, committed to with chosen authors.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes `files` (path, text; empty text deletes) and commits them as `author`
    /// (`name <email>`); returns the commit's SHA.
    pub fn commit(&self, author: (&str, &str), message: &str, files: &[(&str, &str)]) -> String {
        for (path, text) in files {
            let target = self.path().join(path);
            if text.is_empty() {
                let _ = std::fs::remove_file(&target);
                continue;
            }
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, text).unwrap();
        }
        self.git(&["add", "--all"]);
        let who = format!("{} <{}>", author.0, author.1);
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=Committer",
                "-c",
                "user.email=ci@example.com",
            ])
            .args([
                "commit",
                "--quiet",
                "--allow-empty",
                "-m",
                message,
                "--author",
                &who,
            ])
            .current_dir(self.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.git(&["rev-parse", "HEAD"])
    }
}
