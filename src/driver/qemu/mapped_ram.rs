//! QEMU's `mapped-ram` migration file, read just enough to share a node's RAM.
//!
//! With the `mapped-ram` capability QEMU writes each RAM block's pages at fixed offsets
//! in the file: after the block's name and size in the stream comes a header (version,
//! page size, where the block's bitmap of written pages is, where its pages start), and
//! page `i` lives at `pages_offset + i * page_size`; pages never written are holes, and
//! read as the zeros they were. So the pages region *is* the guest's RAM image, and a
//! restored node can map it privately (`memory-backend-file,share=off,offset=...`):
//! every env restored from one snapshot reads the same page cache, and copies a page
//! only when its guest writes it.
//!
//! For that, the incoming migration must not load the block's pages itself (writing
//! them would copy every page): [`share_block`] clears the block's bitmap in the
//! snapshot's copy of the file, so QEMU loads its device state and the small blocks
//! (firmware, option ROMs) from it, and finds no page of the main block to load.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// QEMU's `MAPPED_RAM_HDR_VERSION`.
const HEADER_VERSION: u32 = 1;
/// QEMU's `MAPPED_RAM_FILE_OFFSET_ALIGNMENT`: where pages regions start.
const PAGES_ALIGNMENT: u64 = 0x10_0000;
/// The headers are in the stream's setup section, near the start of the file.
const SEARCH_BYTES: usize = 1 << 20;

/// Where one block's pages are in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub used_length: u64,
    pub page_size: u64,
    pub bitmap_offset: u64,
    pub pages_offset: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum MappedRamError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no mapped-ram header for RAM block '{block}' of {size} bytes in the migration file")]
    NotFound { block: String, size: u64 },
}

/// Finds block `name` of `size` bytes: its name (length-prefixed) and size as the stream
/// writes them, followed by a header that points just past itself and at an aligned
/// pages region. All of that must hold, so a match elsewhere in the bytes is not taken.
pub fn find_block(head: &[u8], name: &str, size: u64) -> Option<Block> {
    let mut tag = vec![u8::try_from(name.len()).ok()?];
    tag.extend_from_slice(name.as_bytes());
    tag.extend_from_slice(&size.to_be_bytes());
    let mut from = 0;
    while let Some(at) = find(&head[from..], &tag).map(|i| i + from) {
        let h = at + tag.len();
        if let Some(raw) = head.get(h..h + 28) {
            let be64 = |i: usize| u64::from_be_bytes(raw[i..i + 8].try_into().expect("8 bytes"));
            let block = Block {
                used_length: size,
                page_size: be64(4),
                bitmap_offset: be64(12),
                pages_offset: be64(20),
            };
            let version = u32::from_be_bytes(raw[..4].try_into().expect("4 bytes"));
            if version == HEADER_VERSION
                && block.page_size.is_power_of_two()
                && block.bitmap_offset == (h + 28) as u64
                && block.pages_offset.is_multiple_of(PAGES_ALIGNMENT)
                && block.pages_offset >= block.bitmap_offset + bitmap_size(&block)
            {
                return Some(block);
            }
        }
        from = at + 1;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `BITS_TO_LONGS(pages) * sizeof(long)`: the size of a block's bitmap in the file.
fn bitmap_size(block: &Block) -> u64 {
    (block.used_length / block.page_size).div_ceil(64) * 8
}

/// Clears the bitmap of block `name` in the file at `path`, so an incoming migration
/// from it leaves that block's memory as the memory backend maps it; returns the block.
pub fn share_block(path: &Path, name: &str, size: u64) -> Result<Block, MappedRamError> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut head = Vec::new();
    (&mut file)
        .take(SEARCH_BYTES as u64)
        .read_to_end(&mut head)?;
    let block = find_block(&head, name, size).ok_or_else(|| MappedRamError::NotFound {
        block: name.to_string(),
        size,
    })?;
    file.seek(SeekFrom::Start(block.bitmap_offset))?;
    file.write_all(&vec![0; bitmap_size(&block) as usize])?;
    file.sync_all()?;
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The setup section's bytes for one block, as QEMU writes them.
    fn stream(prefix: &[u8], name: &str, size: u64, page: u64) -> Vec<u8> {
        let mut b = prefix.to_vec();
        b.push(name.len() as u8);
        b.extend_from_slice(name.as_bytes());
        b.extend_from_slice(&size.to_be_bytes());
        let bitmap_offset = (b.len() + 28) as u64;
        let bits = (size / page).div_ceil(64) * 8;
        let pages_offset = (bitmap_offset + bits).next_multiple_of(PAGES_ALIGNMENT);
        b.extend_from_slice(&HEADER_VERSION.to_be_bytes());
        for v in [page, bitmap_offset, pages_offset] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b
    }

    #[test]
    fn finds_the_block_behind_its_name_and_size() {
        let head = stream(
            b"QEVM\0\0\0\x03 some sections \x06pc.ram",
            "pc.ram",
            256 << 20,
            4096,
        );
        let block = find_block(&head, "pc.ram", 256 << 20).unwrap();
        assert_eq!(block.pages_offset, PAGES_ALIGNMENT);
        assert_eq!(block.bitmap_offset as usize, head.len());
        assert!(find_block(&head, "pc.ram", 512 << 20).is_none());
        assert!(find_block(&head, "pc.rom", 256 << 20).is_none());
    }

    #[test]
    fn a_header_that_does_not_point_past_itself_is_not_taken() {
        let mut head = stream(b"", "pc.ram", 1 << 20, 4096);
        let n = head.len();
        head[n - 12] ^= 1; // pages_offset no longer aligned
        assert!(find_block(&head, "pc.ram", 1 << 20).is_none());
    }

    #[test]
    fn sharing_clears_only_the_blocks_bitmap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mem");
        let mut bytes = stream(b"x", "pc.ram", 1 << 20, 4096);
        let bitmap_at = bytes.len();
        bytes.extend_from_slice(&[0xff; 32]);
        bytes.extend_from_slice(b"tail");
        std::fs::write(&path, &bytes).unwrap();
        share_block(&path, "pc.ram", 1 << 20).unwrap();
        let after = std::fs::read(&path).unwrap();
        assert_eq!(&after[bitmap_at..bitmap_at + 32], &[0; 32]);
        assert_eq!(&after[bitmap_at + 32..], b"tail");
        assert_eq!(&after[..bitmap_at], &bytes[..bitmap_at]);
    }
}
