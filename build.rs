//! rust-embed includes each file of `web/` by name, so cargo notices edits but not new or
//! removed files; watching the folder rebuilds the crate when its content changes.

fn main() {
    println!("cargo:rerun-if-changed=web");
}
