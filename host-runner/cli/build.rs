//! Embeds the built playground (`www/dist`, made by `scripts/build-web.sh`) into the `meshlock`
//! binary for `meshlock serve`. Without a build the list is empty and `meshlock serve` says how
//! to make one (exit 2); every other command is unaffected.

#![forbid(unsafe_code)]

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, base, out)?;
        } else if let Ok(rel) = path.strip_prefix(base) {
            let url: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            out.push((format!("/{}", url.join("/")), path.clone()));
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let www = manifest.join("../..").join("www");
    let dist = www.join("dist");
    let mut assets = Vec::new();
    if dist.join("index.html").is_file() {
        // Cargo scans a directory recursively for changes.
        println!("cargo:rerun-if-changed={}", dist.display());
        collect(&dist, &dist, &mut assets)?;
        assets.sort();
    } else if www.is_dir() {
        // A missing path would rerun this script on every build; watch www/ instead, which
        // changes when build-web.sh writes www/dist.
        println!("cargo:rerun-if-changed={}", www.display());
    }
    let mut code = String::from("&[\n");
    for (url, path) in &assets {
        let abs = path.canonicalize()?;
        writeln!(code, "    ({url:?}, include_bytes!({:?}) as &[u8]),", abs.display().to_string())?;
    }
    code.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("playground_assets.rs");
    std::fs::write(out, code)?;
    Ok(())
}
