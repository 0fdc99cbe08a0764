//! `vstage doctor`: QEMU and its version, the homes, the images, and KVM or TCG.

use crate::failure::Result;
use vstage::home::Home;
use vstage::image::{self, Cache};
use vstage::lifecycle;

use crate::{EXIT_FAILURE, Out};
use std::io::Write as _;

pub(crate) fn doctor(home: &Home, refresh: bool) -> Result<u8> {
    let mut ok = true;
    match vstage::driver::qemu::find_binary() {
        Some(p) => {
            use vstage::driver::qemu::version::{self, Version};
            match Version::of(&p) {
                Ok(v) if v.supported() => say!("qemu:     {} ({v})", p.display()),
                Ok(v) => say!(
                    "qemu:     {} ({v})\n          warning: vstage is tested on QEMU {}.{} up to {}.x; run 'make setup' for the pinned version",
                    p.display(),
                    version::SUPPORTED_MIN.major,
                    version::SUPPORTED_MIN.minor,
                    version::SUPPORTED_BELOW.major - 1,
                ),
                Err(e) => {
                    ok = false;
                    say!("qemu:     {e}");
                }
            }
        }
        None => {
            ok = false;
            say!(
                "qemu:     {} not found: run 'make setup'",
                vstage::driver::qemu::binary().display()
            );
        }
    }
    // Optional: only templates with `mounts:` need it.
    match vstage::driver::qemu::virtiofsd::find_binary() {
        Some(p) => say!("virtiofsd: {}", p.display()),
        None => say!("virtiofsd: not found (templates with mounts: need it; 'make setup')"),
    }
    say!("home:     {}", home.state.display());
    say!("cache:    {}", home.cache.display());
    let cache = Cache::new(home.images());
    for name in image::recipe_names() {
        match cache.get(name)? {
            Some(img) => say!("image:    {name} built ({})", img.hash),
            None => say!("image:    {name} not built (vstage image build {name})"),
        }
    }
    if ok {
        let verdict = lifecycle::detect_accel(home, refresh, &mut |m| eprintln!("vstage: {m}"))?;
        say!("accel:    {}", verdict.accel.as_str());
        say!("          {}", verdict.reason);
    }
    Ok(if ok { 0 } else { EXIT_FAILURE })
}
