//! Rebuild when a migration changes: `sqlx::migrate!` embeds the migration folders.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
