//! The envelope (`.bht`): the read-optimised file a journal becomes.
//!
//! ```text
//! preamble    magic (8) | version u32 | header_len u32                      16 B
//! header      section table: 9 × (offset u64, len u64)                     144 B
//!             postcard(TraceHeader)                                   header_len - 144
//! structure   strings | callsites | threads | index | roots | services   (read by open)
//! fields      field names, a block per callsite         (read per callsite, by payload queries)
//! payload     one block per span, in index order | orphan-event block    (read by seek)
//! trailer     header crc | structure crc | payload crc | fields crc | file_len u64 | end magic
//! ```
//!
//! The index has one fixed-width row per span in preorder within each root,
//! its columns packed in as many bits as the file's largest values need,
//! so a span's subtree is rows `[i, subtree_end)` and its payload one
//! contiguous byte range. A row stores its parent and its block's length;
//! the reader derives where each subtree and each block ends when it
//! opens the file. `docs/format.md` has every byte.

mod convert;
pub(crate) mod layout;

pub(crate) use convert::convert;
pub use convert::{ConvertStats, recover, recover_to_vec, recover_with_progress};
pub use layout::TraceHeader;
