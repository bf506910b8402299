//! `meshlock oci`: the filter module as an OCI image for Istio's WasmPlugin (docs/oci-image.md).

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use meshlock_cli::oci::{Reference, Registry, WasmImage};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum OciCommand {
    /// Push the module as an image; prints the image URL and its manifest and module digests.
    Push(PushArgs),
    /// The digests the image of a module has, computed here without a registry.
    Digest(ModuleArgs),
}

#[derive(Debug, Args)]
pub struct ModuleArgs {
    /// The filter module (default: the wasm32-unknown-unknown release-wasm build).
    #[arg(long, value_name = "PATH.wasm")]
    pub wasm: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub module: ModuleArgs,
    /// Where to: [oci://]HOST[:PORT]/REPOSITORY[:TAG] (the tag defaults to `latest`).
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Speak HTTP instead of HTTPS (a registry on loopback for tests).
    #[arg(long)]
    pub plain_http: bool,
    /// Credentials: the user name; the password comes from $MESHLOCK_REGISTRY_PASSWORD. Sent as
    /// basic credentials, or to the registry's token service when it asks for a bearer token.
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,
}

/// The module's image, from `--wasm` or the located filter build.
pub fn image_of(wasm: Option<&Path>) -> Result<(PathBuf, WasmImage)> {
    let path = meshlock_testbed::locate_filter(wasm).map_err(anyhow::Error::msg)?;
    let module = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let image = WasmImage::new(&module).with_context(|| format!("{}", path.display()))?;
    Ok((path, image))
}

fn print_digests(image: &WasmImage) {
    println!("manifest: {}", image.manifest_digest());
    println!("module: {}", image.module_digest);
}

pub fn oci(command: &OciCommand) -> Result<ExitCode> {
    match command {
        OciCommand::Digest(args) => {
            let (_, image) = image_of(args.wasm.as_deref())?;
            print_digests(&image);
        }
        OciCommand::Push(args) => {
            let reference = Reference::parse(&args.reference)?;
            let (path, image) = image_of(args.module.wasm.as_deref())?;
            let password = std::env::var("MESHLOCK_REGISTRY_PASSWORD").ok();
            let basic = match (&args.username, &password) {
                (Some(user), Some(password)) => Some((user.as_str(), password.as_str())),
                (Some(_), None) => anyhow::bail!("--username needs the password in $MESHLOCK_REGISTRY_PASSWORD"),
                (None, _) => None,
            };
            let registry = Registry::new(&reference.registry, args.plain_http, basic);
            let digest = registry.push(&image, &reference)?;
            eprintln!(
                "meshlock oci push: {} ({} bytes, layer {} bytes) as {}",
                path.display(),
                std::fs::metadata(&path).map(|m| m.len()).unwrap_or_default(),
                image.layer.len(),
                reference.url()
            );
            println!("image: {}", reference.url());
            println!("manifest: {digest}");
            println!("module: {}", image.module_digest);
        }
    }
    Ok(ExitCode::SUCCESS)
}
