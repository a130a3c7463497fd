//! Reading a journal back: frame by frame, stopping cleanly at the first
//! torn or corrupt frame, with counters that say how far it got and why it
//! stopped.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use tracing_core::Level;

use crossbeam_channel::{Receiver, Sender};

use super::record::{KIND_SPAN, Parsed, RecordRef, level_from_byte, next_record, parse_frame};
use super::{
    FRAME_HEADER_LEN, JOURNAL_MAGIC, JOURNAL_VERSION, MAX_FRAME_LEN, MAX_HEADER_LEN, PREAMBLE_LEN,
    ProcessInfo,
};
use crate::codec::Cursor;
use crate::error::{Error, Section};
use crate::value::{Value, field_count_hint, get_fields, unnamed_field};

/// Why reading a journal stopped before the end of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The last frame is incomplete: the process died while writing it.
    TornFrame {
        /// Bytes the frame declared (header included).
        declared: u64,
        /// Bytes present in the file.
        present: u64,
    },
    /// A frame's length field is zero or larger than any frame the writer
    /// produces: the bytes are not a frame.
    BadFrameLength(u32),
    /// A frame's checksum does not match its bytes.
    Checksum {
        /// The checksum stored in the frame header.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// A frame with a valid checksum holds a record that does not decode.
    BadRecord(String),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::TornFrame { declared, present } => write!(
                f,
                "torn frame: it declares {declared} bytes but only {present} are in the file"
            ),
            StopReason::BadFrameLength(len) => write!(f, "frame length {len} is not a frame"),
            StopReason::Checksum { stored, computed } => write!(
                f,
                "frame checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            StopReason::BadRecord(e) => write!(f, "a record does not decode: {e}"),
        }
    }
}

/// What reading a journal found: how much was whole, and where and why it
/// stopped if it did not reach the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoverStats {
    /// Whole frames read.
    pub frames: u64,
    /// Records decoded from those frames: the app's records plus the
    /// writer's own (callsite and thread definitions, drop counts, the end
    /// mark), so a few more than [`WriterStats::records_written`](crate::journal::WriterStats::records_written).
    pub records: u64,
    /// Bytes of the file read as valid: preamble, header and whole frames.
    pub bytes: u64,
    /// True when reading stopped before the end of the file.
    pub torn_tail: bool,
    /// The file offset where reading stopped (the file length when the
    /// whole file was read).
    pub stopped_at: u64,
    /// Why reading stopped early, when it did.
    pub stop_reason: Option<StopReason>,
    /// The file's length.
    pub file_len: u64,
    /// The journal format version the file declares (1 or 2).
    pub version: u32,
}

/// Reads the journal's whole frames one at a time into reused buffers.
///
/// This is the streaming layer the converter uses: memory is a few frames,
/// whatever the journal's length. A second thread reads and checksums the next frames while the caller
/// decodes this one (a conversion has the machine to itself by then): in
/// memory are the frame being decoded, one being read, those waiting (at
/// most [`AHEAD_FRAMES`], less than [`AHEAD_BYTES`] before the last one
/// queued) and a pool of as many emptied buffers, each no larger than
/// [`RECYCLE_MAX`].
#[derive(Debug)]
pub(crate) struct FrameReader {
    path: PathBuf,
    process: ProcessInfo,
    frames: Frames,
    frame: Vec<u8>,
    /// The records of `frame` parsed ahead, a prefix of them, or none.
    parsed: Vec<Parsed>,
    frame_offset: u64,
    stats: RecoverStats,
    done: bool,
}

/// Where the frames come from: the read-ahead thread, or (if it could not
/// be started) the file directly.
#[derive(Debug)]
enum Frames {
    Ahead(Ahead),
    Inline(RawFrames),
}

/// What the read-ahead thread sends: what it found, and the buffer that
/// holds the frame if it found one.
type ReadFrame = (Result<Next, Error>, Vec<u8>, Vec<Parsed>);

/// What a waiting [`ReadFrame`] counts against [`AHEAD_BYTES`]: its frame
/// and its parsed records.
fn weight(item: &ReadFrame) -> usize {
    item.1.len() + item.2.len() * std::mem::size_of::<Parsed>()
}

/// Frames larger than this are not parsed ahead (the decoder decodes
/// them): the writer's are about 64 KiB, and parsed records take up to 28
/// times their frame's bytes.
const PARSE_MAX: usize = 256 << 10;

/// Bytes of frames the read-ahead thread may have waiting: it sleeps once
/// this much is queued (the frame that crosses it still goes).
const AHEAD_BYTES: usize = 1 << 20;

/// Frames the read-ahead thread may have waiting, however small they are:
/// with [`AHEAD_BYTES`], this bounds the buffers in circulation.
const AHEAD_FRAMES: usize = 16;

/// The read-ahead thread is woken once the decoder has taken what waits
/// down to a quarter of both bounds: waking a sleeping thread is a system
/// call, and one per frame was 6% of a conversion's time.
const AHEAD_WAKE_BYTES: usize = AHEAD_BYTES / 4;
const AHEAD_WAKE_FRAMES: usize = AHEAD_FRAMES / 4;

/// A frame buffer larger than this is dropped after use instead of going
/// back to be filled again, so that a rare huge frame does not stay
/// allocated in the pool (the writer's frames are about 64 KiB).
const RECYCLE_MAX: usize = 256 << 10;

/// What the decoder and the read-ahead thread share besides the channels.
#[derive(Debug, Default)]
struct AheadState {
    /// Bytes of the frames in the channel.
    queued: AtomicUsize,
    /// Frames in the channel.
    frames: AtomicUsize,
    /// Set by the thread while it sleeps on a full queue.
    asleep: AtomicBool,
    /// Set when the decoder is gone.
    stop: AtomicBool,
}

/// The read-ahead thread and its two channels: frames read, and buffers
/// to fill again.
#[derive(Debug)]
struct Ahead {
    full: Receiver<ReadFrame>,
    empty: Sender<(Vec<u8>, Vec<Parsed>)>,
    state: Arc<AheadState>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ahead {
    /// The next thing the thread found, waking it if it sleeps and little
    /// is left waiting.
    fn recv(&self) -> Option<ReadFrame> {
        let got = self.full.recv().ok()?;
        let w = weight(&got);
        let left = self.state.queued.fetch_sub(w, SeqCst) - w;
        let frames = self.state.frames.fetch_sub(1, SeqCst) - 1;
        if left <= AHEAD_WAKE_BYTES
            && frames <= AHEAD_WAKE_FRAMES
            && self.state.asleep.swap(false, SeqCst)
        {
            if let Some(t) = &self.thread {
                t.thread().unpark();
            }
        }
        Some(got)
    }
}

/// Stops the thread and waits for it, so that nothing of it outlives the
/// reader.
impl Drop for Ahead {
    fn drop(&mut self) {
        self.state.stop.store(true, SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl AheadState {
    /// Whether the queue is at either bound.
    fn full(&self) -> bool {
        self.queued.load(SeqCst) >= AHEAD_BYTES || self.frames.load(SeqCst) >= AHEAD_FRAMES
    }
}

/// Hands `item` to the decoder once less than [`AHEAD_BYTES`] and fewer
/// than [`AHEAD_FRAMES`] frames wait, sleeping until then. False when the
/// decoder is gone.
fn send_ahead(full: &Sender<ReadFrame>, state: &AheadState, item: ReadFrame) -> bool {
    while state.full() {
        if state.stop.load(SeqCst) {
            return false;
        }
        state.asleep.store(true, SeqCst);
        // Still full after saying so: a wake-up will come. The sleep is
        // bounded as well, so a missed one costs time, never a hang.
        if state.full() && !state.stop.load(SeqCst) {
            std::thread::park_timeout(std::time::Duration::from_millis(50));
        }
        state.asleep.store(false, SeqCst);
    }
    state.queued.fetch_add(weight(&item), SeqCst);
    state.frames.fetch_add(1, SeqCst);
    !state.stop.load(SeqCst) && full.send(item).is_ok()
}

/// What reading at a frame boundary found.
#[derive(Debug)]
enum Next {
    /// A whole frame with a good checksum: its body starts at `offset`
    /// and it takes `declared` bytes with its header.
    Frame { offset: u64, declared: u64 },
    /// The end of the file, at `at`.
    End { at: u64 },
    /// A torn or corrupt frame at `at`: reading stops there.
    Stop { at: u64, reason: StopReason },
}

/// The frames of a journal after its header, read and checked one by one.
#[derive(Debug)]
struct RawFrames {
    file: io::BufReader<File>,
    path: PathBuf,
    pos: u64,
    file_len: u64,
}

impl RawFrames {
    /// Reads the frame at the current position into `buf`.
    fn next(&mut self, buf: &mut Vec<u8>) -> Result<Next, Error> {
        let left = self.file_len - self.pos;
        if left == 0 {
            return Ok(Next::End { at: self.pos });
        }
        let stop = |at, reason| Ok(Next::Stop { at, reason });
        if left < FRAME_HEADER_LEN as u64 {
            return stop(
                self.pos,
                StopReason::TornFrame {
                    declared: FRAME_HEADER_LEN as u64,
                    present: left,
                },
            );
        }
        let mut hdr = [0u8; FRAME_HEADER_LEN];
        self.file
            .read_exact(&mut hdr)
            .map_err(|e| Error::io(&self.path, e))?;
        let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let stored = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        if len == 0 || len > MAX_FRAME_LEN {
            return stop(self.pos, StopReason::BadFrameLength(len));
        }
        let declared = FRAME_HEADER_LEN as u64 + u64::from(len);
        if declared > left {
            return stop(
                self.pos,
                StopReason::TornFrame {
                    declared,
                    present: left,
                },
            );
        }
        // The length is bounded by MAX_FRAME_LEN and by the file: safe to size.
        buf.resize(len as usize, 0);
        self.file
            .read_exact(buf)
            .map_err(|e| Error::io(&self.path, e))?;
        let computed = crc32fast::hash(buf);
        if computed != stored {
            return stop(self.pos, StopReason::Checksum { stored, computed });
        }
        let offset = self.pos + FRAME_HEADER_LEN as u64;
        self.pos += declared;
        Ok(Next::Frame { offset, declared })
    }

    /// Starts a thread that reads frames ahead into buffers sent back
    /// through `empty`, as many waiting as [`send_ahead`] allows; stops after the first
    /// result that is not a frame, or when the reader is dropped.
    /// With `parse` (the `text` flag of [`next_record_as`]), the thread
    /// also parses each frame's records.
    fn read_ahead(self, parse: Option<bool>) -> Result<Frames, RawFrames> {
        // Unbounded: the thread bounds what waits by bytes and frames.
        let (full_tx, full) = crossbeam_channel::unbounded();
        // The buffers in circulation: those waiting, one being read, one
        // being decoded; more are dropped.
        let (empty, empty_rx) = crossbeam_channel::bounded(AHEAD_FRAMES + 2);
        let (ready_tx, ready) = crossbeam_channel::bounded::<RawFrames>(1);
        let state = Arc::new(AheadState::default());
        let thread_state = Arc::clone(&state);
        let spawned = std::thread::Builder::new()
            .name("bhtrace-frames".into())
            .spawn(move || {
                // The frames arrive here, so a failed spawn keeps them.
                let Ok(mut raw) = ready.recv() else { return };
                loop {
                    let (mut buf, mut parsed): (Vec<u8>, Vec<Parsed>) =
                        empty_rx.try_recv().unwrap_or_default();
                    let next = raw.next(&mut buf);
                    let more = matches!(next, Ok(Next::Frame { .. }));
                    parsed.clear();
                    if let (true, Some(text)) = (more, parse) {
                        if buf.len() <= PARSE_MAX {
                            parse_frame(&buf, text, &mut parsed);
                        }
                    }
                    if !send_ahead(&full_tx, &thread_state, (next, buf, parsed)) || !more {
                        return;
                    }
                }
            });
        match spawned {
            Ok(thread) => {
                // The thread holds `ready` until it has received.
                let _ = ready_tx.send(self);
                Ok(Frames::Ahead(Ahead {
                    full,
                    empty,
                    state,
                    thread: Some(thread),
                }))
            }
            Err(_) => Err(self),
        }
    }
}

impl FrameReader {
    /// Opens a journal and validates its preamble and process header.
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        Self::open_with(path, true, None)
    }

    /// [`FrameReader::open`], with the records of each frame parsed ahead
    /// as `next_record_as(_, text)` decodes them, given by
    /// [`FrameReader::next_frame`] (when the read-ahead thread runs).
    pub(crate) fn open_parsing(path: &Path, text: bool) -> Result<Self, Error> {
        Self::open_with(path, true, Some(text))
    }

    /// [`FrameReader::open`], reading frames on this thread unless `ahead`.
    fn open_with(path: &Path, ahead: bool, parse: Option<bool>) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        // A read buffer a quarter of the writer's frame size: it gathers
        // frame headers and small frames (a quiet app's ticks) into few
        // reads, while most of a full 64 KiB frame is read straight into
        // the frame buffer (BufReader reads past its buffer once that is
        // empty and the rest asked for is at least its size) instead of
        // being copied twice.
        let buffer = file_len.min(16 << 10) as usize;
        let mut file = io::BufReader::with_capacity(buffer, file);
        let mut pre = [0u8; PREAMBLE_LEN];
        let got = read_full(&mut file, &mut pre).map_err(|e| Error::io(path, e))?;
        if got < 8 || pre[..8] != JOURNAL_MAGIC {
            return Err(Error::BadMagic {
                expected: "journal",
                found: pre[..got.min(8)].to_vec(),
            });
        }
        if got < PREAMBLE_LEN {
            return Err(Error::Truncated {
                section: Section::JournalHeader,
                offset: 0,
                end: PREAMBLE_LEN as u64,
                file_len,
            });
        }
        let mut c = Cursor::new(&pre[8..], 8, Section::JournalHeader);
        let version = c.u32_le()?;
        if !(1..=JOURNAL_VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                kind: "journal",
                found: version,
                supported: JOURNAL_VERSION,
            });
        }
        let header_len = c.u32_le()?;
        let header_crc = c.u32_le()?;
        let end = PREAMBLE_LEN as u64 + u64::from(header_len);
        if header_len > MAX_HEADER_LEN {
            return Err(Error::Corrupt {
                section: Section::JournalHeader,
                offset: 12,
                what: "process header length is larger than any header the writer produces",
            });
        }
        if end > file_len {
            return Err(Error::Truncated {
                section: Section::JournalHeader,
                offset: PREAMBLE_LEN as u64,
                end,
                file_len,
            });
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact(&mut header)
            .map_err(|e| Error::io(path, e))?;
        let computed = crc32fast::hash(&header);
        if computed != header_crc {
            return Err(Error::Checksum {
                section: Section::JournalHeader,
                offset: PREAMBLE_LEN as u64,
                stored: header_crc,
                computed,
            });
        }
        let process: ProcessInfo = postcard::from_bytes(&header).map_err(|_| Error::Corrupt {
            section: Section::JournalHeader,
            offset: PREAMBLE_LEN as u64,
            what: "process header does not decode",
        })?;
        let raw = RawFrames {
            file,
            path: path.to_owned(),
            pos: end,
            file_len,
        };
        let frames = if ahead {
            raw.read_ahead(parse).unwrap_or_else(Frames::Inline)
        } else {
            Frames::Inline(raw)
        };
        Ok(FrameReader {
            path: path.to_owned(),
            process,
            frames,
            frame: Vec::new(),
            parsed: Vec::new(),
            frame_offset: end,
            stats: RecoverStats {
                bytes: end,
                file_len,
                stopped_at: end,
                version,
                ..RecoverStats::default()
            },
            done: false,
        })
    }

    pub(crate) fn process(&self) -> &ProcessInfo {
        &self.process
    }

    /// Counters so far.
    pub(crate) fn stats(&self) -> &RecoverStats {
        &self.stats
    }

    /// Records that the record at file offset `at` did not decode: reading
    /// stops there (the frame's earlier records count as read).
    pub(crate) fn stop_bad_record(&mut self, at: u64, err: &Error) {
        self.stop(at, StopReason::BadRecord(err.to_string()));
    }

    pub(crate) fn count_records(&mut self, n: u64) {
        self.stats.records += n;
    }

    fn stop(&mut self, at: u64, reason: StopReason) {
        self.done = true;
        self.stats.torn_tail = true;
        self.stats.stopped_at = at;
        self.stats.stop_reason = Some(reason);
    }

    /// The next whole frame's records, the file offset they start at, and
    /// the first of them parsed ahead (all, some or none: see
    /// [`parse_frame`]), or `None` at the end of the file or at the first
    /// torn or corrupt frame.
    #[allow(clippy::type_complexity)]
    pub(crate) fn next_frame(&mut self) -> Result<Option<(&[u8], u64, &[Parsed])>, Error> {
        if self.done {
            return Ok(None);
        }
        let next = match &mut self.frames {
            Frames::Ahead(ahead) => {
                let Some((next, buf, parsed)) = ahead.recv() else {
                    return Err(Error::io(
                        &self.path,
                        io::Error::other("the journal's read-ahead thread stopped"),
                    ));
                };
                // The frame decoded last goes back to be filled again,
                // unless it is a rare huge one.
                let used = std::mem::replace(&mut self.frame, buf);
                let used_parsed = std::mem::replace(&mut self.parsed, parsed);
                if used.capacity() <= RECYCLE_MAX
                    && used_parsed.capacity() * std::mem::size_of::<Parsed>() <= RECYCLE_MAX
                {
                    let _ = ahead.empty.try_send((used, used_parsed));
                }
                next?
            }
            Frames::Inline(raw) => {
                self.parsed.clear();
                raw.next(&mut self.frame)?
            }
        };
        match next {
            Next::Frame { offset, declared } => {
                self.frame_offset = offset;
                self.stats.frames += 1;
                self.stats.bytes += declared;
                self.stats.stopped_at = offset - FRAME_HEADER_LEN as u64 + declared;
                Ok(Some((&self.frame, self.frame_offset, &self.parsed)))
            }
            Next::End { at } => {
                self.done = true;
                self.stats.stopped_at = at;
                Ok(None)
            }
            Next::Stop { at, reason } => {
                self.stop(at, reason);
                Ok(None)
            }
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A callsite's metadata, as [`Record::Callsite`] carries it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CallsiteRecord {
    /// The number records use to refer to it.
    pub id: u32,
    /// True for a span callsite, false for an event.
    pub is_span: bool,
    /// Its level.
    pub level: Level,
    /// Span or event name.
    pub name: String,
    /// Its target (usually the module path).
    pub target: String,
    /// Module path, if known.
    pub module_path: Option<String>,
    /// Source file, if known.
    pub file: Option<String>,
    /// Source line, if known.
    pub line: Option<u32>,
    /// The names of its fields, in declaration order; the records that
    /// use the callsite share these very strings.
    pub fields: Vec<Arc<str>>,
}

/// One journal record, decoded and owned.
///
/// Span numbers are bhtrace's own never-reused numbers (not `tracing`'s
/// ids); field names are resolved through the callsite the record refers to.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Record {
    /// A callsite's metadata, written once before the first record using it
    /// (boxed: it is the largest record and the rarest, so the others do
    /// not pay for its size).
    Callsite(Box<CallsiteRecord>),
    /// A thread's name, written once before its first record.
    Thread {
        /// The number records use for it.
        thread: u32,
        /// Its name, if it has one.
        name: Option<String>,
    },
    /// A span was created.
    NewSpan {
        /// The span's number.
        span: u64,
        /// Its parent's number, if it has a recorded parent.
        parent: Option<u64>,
        /// Its callsite.
        callsite: u32,
        /// Creation time, ns since the trace origin.
        t_ns: u64,
        /// The thread it was created on.
        thread: u32,
        /// Its fields at creation.
        fields: Vec<(Arc<str>, Value)>,
    },
    /// Fields recorded on a span after its creation (`span.record`).
    Record {
        /// The span's number.
        span: u64,
        /// The recorded fields.
        fields: Vec<(Arc<str>, Value)>,
    },
    /// `span.follows_from(other)`.
    FollowsFrom {
        /// The span that follows.
        span: u64,
        /// The span it follows from.
        follows: u64,
    },
    /// A span was entered on a thread.
    Enter {
        /// The span's number.
        span: u64,
        /// When, ns since the trace origin.
        t_ns: u64,
        /// On which thread.
        thread: u32,
    },
    /// A span was exited on a thread.
    Exit {
        /// The span's number.
        span: u64,
        /// When, ns since the trace origin.
        t_ns: u64,
        /// On which thread.
        thread: u32,
    },
    /// A span was closed.
    Close {
        /// The span's number.
        span: u64,
        /// When, ns since the trace origin.
        t_ns: u64,
    },
    /// An event.
    Event {
        /// The span it happened in, if any.
        parent: Option<u64>,
        /// Its callsite.
        callsite: u32,
        /// When, ns since the trace origin.
        t_ns: u64,
        /// On which thread.
        thread: u32,
        /// Its fields (the message is the field `message`).
        fields: Vec<(Arc<str>, Value)>,
    },
    /// The running total of records dropped in lossy mode.
    Dropped {
        /// Records dropped since the trace started.
        total: u64,
    },
    /// The writer shut down cleanly at this time.
    End {
        /// ns since the trace origin.
        t_ns: u64,
    },
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Reads a journal record by record, stopping before the first torn or
/// corrupt frame. After the iterator ends, [`JournalReader::stats`] says how
/// much was read and why it stopped.
///
/// It never panics, whatever the file holds; only a file that is not a
/// journal at all (or cannot be read) is an error, from [`JournalReader::open`].
///
/// ```no_run
/// # fn main() -> Result<(), bhtrace::Error> {
/// let mut journal = bhtrace::journal::JournalReader::open("app.bhtj")?;
/// for record in journal.by_ref() {
///     println!("{record:?}");
/// }
/// println!("stopped early: {}", journal.stats().torn_tail);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct JournalReader {
    frames: FrameReader,
    pending: std::vec::IntoIter<Record>,
    names: FieldNames,
    error: Option<Error>,
}

/// What naming the fields of later records takes.
#[derive(Debug, Default)]
struct FieldNames {
    /// Field names per callsite, shared with every record that uses it.
    callsites: HashMap<u32, Vec<Arc<str>>>,
    /// Callsite of each span seen, to name fields of later `Record`s.
    span_callsite: HashMap<u64, u32>,
}

impl FieldNames {
    /// Decodes a field list, naming each field through `callsite`: a
    /// reference count on the callsite's names, not a copy.
    fn fields(
        &self,
        callsite: Option<u32>,
        fields: &[u8],
        offset: u64,
    ) -> Result<Vec<(Arc<str>, Value)>, Error> {
        let names = callsite.and_then(|c| self.callsites.get(&c));
        let mut c = Cursor::new(fields, offset, Section::Journal);
        let mut out = Vec::with_capacity(field_count_hint(&c));
        get_fields(&mut c, |idx, v| {
            let name = names
                .and_then(|n| n.get(usize::from(idx)))
                .map_or_else(|| unnamed_field(idx), Arc::clone);
            out.push((name, v.to_owned()));
            Ok(())
        })?;
        Ok(out)
    }
}

impl JournalReader {
    /// Opens a journal and checks its magic, version and process header.
    ///
    /// # Errors
    /// The file cannot be read, is not a journal, or has a version or
    /// header this build cannot read.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Ok(JournalReader {
            frames: FrameReader::open(path.as_ref())?,
            pending: Vec::new().into_iter(),
            names: FieldNames::default(),
            error: None,
        })
    }

    /// The process header at the start of the journal.
    pub fn process(&self) -> &ProcessInfo {
        self.frames.process()
    }

    /// How much has been read so far and, once the iterator has ended, why
    /// it stopped.
    pub fn stats(&self) -> &RecoverStats {
        self.frames.stats()
    }

    /// An I/O error met while reading frames, if any ended the iteration.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Decodes the next whole frame's records onto `out`; false at the end
    /// of the file or at the first torn or corrupt frame.
    fn decode_frame(&mut self, out: &mut Vec<Record>) -> Result<bool, Error> {
        let Some((frame, offset, _)) = self.frames.next_frame()? else {
            return Ok(false);
        };
        let names = &mut self.names;
        let before = out.len();
        let mut c = Cursor::new(frame, offset, Section::Journal);
        let mut bad = None;
        // The time deltas of a frame refer to its earlier records only.
        let mut base = None;
        while !c.is_empty() {
            let at = c.offset();
            let rec = match next_record(&mut c, &mut base) {
                Ok(r) => r,
                Err(e) => {
                    bad = Some((at, e));
                    break;
                }
            };
            let owned = match rec {
                RecordRef::Callsite(d) => {
                    let fields: Vec<Arc<str>> = d.fields.iter().map(|&s| Arc::from(s)).collect();
                    names.callsites.insert(d.id, fields.clone());
                    Record::Callsite(Box::new(CallsiteRecord {
                        id: d.id,
                        is_span: d.kind == KIND_SPAN,
                        level: level_from_byte(d.level),
                        name: d.name.to_owned(),
                        target: d.target.to_owned(),
                        module_path: non_empty(d.module),
                        file: non_empty(d.file),
                        line: (d.line != 0).then_some(d.line),
                        fields,
                    }))
                }
                RecordRef::Thread { thread, name } => Record::Thread {
                    thread,
                    name: non_empty(name),
                },
                RecordRef::NewSpan {
                    span,
                    parent,
                    callsite,
                    t,
                    thread,
                    fields,
                } => {
                    names.span_callsite.insert(span, callsite);
                    Record::NewSpan {
                        span,
                        parent: (parent != 0).then_some(parent),
                        callsite,
                        t_ns: t,
                        thread,
                        fields: names.fields(Some(callsite), fields, at)?,
                    }
                }
                RecordRef::Record { span, fields } => Record::Record {
                    span,
                    fields: names.fields(names.span_callsite.get(&span).copied(), fields, at)?,
                },
                RecordRef::Follows { span, follows } => Record::FollowsFrom { span, follows },
                RecordRef::Enter {
                    span, t, thread, ..
                } => Record::Enter {
                    span,
                    t_ns: t,
                    thread,
                },
                RecordRef::Exit {
                    span, t, thread, ..
                } => Record::Exit {
                    span,
                    t_ns: t,
                    thread,
                },
                RecordRef::Close { span, t } => {
                    names.span_callsite.remove(&span);
                    Record::Close { span, t_ns: t }
                }
                RecordRef::Event {
                    parent,
                    callsite,
                    t,
                    thread,
                    fields,
                    ..
                } => Record::Event {
                    parent: (parent != 0).then_some(parent),
                    callsite,
                    t_ns: t,
                    thread,
                    fields: names.fields(Some(callsite), fields, at)?,
                },
                RecordRef::Dropped { total } => Record::Dropped { total },
                RecordRef::End { t } => Record::End { t_ns: t },
            };
            out.push(owned);
        }
        if let Some((at, e)) = bad {
            self.frames.stop_bad_record(at, &e);
        }
        self.frames.count_records((out.len() - before) as u64);
        Ok(true)
    }
}

impl Iterator for JournalReader {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(r) = self.pending.next() {
                return Some(r);
            }
            if self.error.is_some() {
                return None;
            }
            let mut records = Vec::new();
            match self.decode_frame(&mut records) {
                Ok(true) => self.pending = records.into_iter(),
                Ok(false) => return None,
                Err(e) => {
                    self.error = Some(e);
                    return None;
                }
            }
        }
    }
}

/// Reads every record of a journal up to its first torn or corrupt frame.
///
/// # Errors
/// The file cannot be opened or read, or is not a journal. A torn or
/// corrupt tail is not an error: it is reported in [`RecoverStats`].
///
/// ```no_run
/// # fn main() -> Result<(), bhtrace::Error> {
/// let (records, stats) = bhtrace::journal::read_journal("app.bhtj")?;
/// println!("{} records, torn tail: {}", records.len(), stats.torn_tail);
/// # Ok(()) }
/// ```
pub fn read_journal(path: impl AsRef<Path>) -> Result<(Vec<Record>, RecoverStats), Error> {
    let mut r = JournalReader::open(path)?;
    // Frames are decoded straight onto the answer: no per-frame buffer.
    let mut records = Vec::new();
    while r.decode_frame(&mut records)? {}
    Ok((records, r.stats().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::prelude::*;

    /// Every frame, its offset, and the stats at the end.
    fn read_all(path: &Path, ahead: bool) -> (Vec<(Vec<u8>, u64)>, RecoverStats) {
        let mut r = FrameReader::open_with(path, ahead, None).unwrap();
        let mut frames = Vec::new();
        while let Some((frame, offset, _)) = r.next_frame().unwrap() {
            frames.push((frame.to_vec(), offset));
        }
        assert!(r.next_frame().unwrap().is_none(), "stays at the end");
        (frames, r.stats().clone())
    }

    /// The read-ahead thread hands over the same frames, offsets and stop
    /// as reading on the caller's thread: on a whole journal, and cut in a
    /// frame, at a frame's header, and with a frame's byte flipped.
    #[test]
    fn reading_ahead_reads_what_reading_inline_does() {
        let dir = std::env::temp_dir().join(format!("bhtrace-frames-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (layer, guard) = crate::Builder::new(dir.join("t.bht"))
            .convert(false)
            .batch_bytes(512)
            .build()
            .unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for i in 0..2000u64 {
                let span = tracing::info_span!("op", i, path = "/a/b/c");
                let _e = span.enter();
                tracing::info!(i, "in the span");
                if i % 500 == 0 {
                    guard.flush().unwrap();
                }
            }
        });
        let journal = guard.finish().unwrap().journal.unwrap();
        let bytes = std::fs::read(&journal).unwrap();
        let (whole, stats) = read_all(&journal, true);
        assert!(whole.len() >= 4, "several frames: {}", whole.len());
        assert!(!stats.torn_tail);
        let second = whole[1].1 as usize;
        let damaged = [
            bytes[..bytes.len() - 3].to_vec(),
            bytes[..second - 4].to_vec(),
            {
                let mut b = bytes.clone();
                b[second + 10] ^= 0x40;
                b
            },
            bytes.clone(),
        ];
        for (i, b) in damaged.iter().enumerate() {
            let path = dir.join(format!("case{i}.bhtj"));
            std::fs::write(&path, b).unwrap();
            let ahead = read_all(&path, true);
            let inline = read_all(&path, false);
            assert_eq!(ahead, inline, "case {i}");
            assert_eq!(ahead.1.torn_tail, i < 3, "case {i}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A journal several times [`AHEAD_BYTES`]: the thread sleeps on a full
    /// queue and is woken as the decoder drains it, and the frames are the
    /// same as read inline. A reader dropped while the thread sleeps stops
    /// it instead of hanging.
    #[test]
    fn reading_ahead_sleeps_wakes_and_stops_on_a_long_journal() {
        let dir = std::env::temp_dir().join(format!("bhtrace-frames-long-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (layer, guard) = crate::Builder::new(dir.join("t.bht"))
            .convert(false)
            .build()
            .unwrap();
        let text = "x".repeat(200);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for i in 0..25_000u64 {
                tracing::info!(i, text = text.as_str(), "a record of a few hundred bytes");
            }
        });
        let journal = guard.finish().unwrap().journal.unwrap();
        let len = std::fs::metadata(&journal).unwrap().len();
        assert!(len > 4 * AHEAD_BYTES as u64, "journal of {len} bytes");
        let ahead = read_all(&journal, true);
        assert_eq!(ahead, read_all(&journal, false));
        assert!(
            ahead.0.len() > 2 * (AHEAD_BYTES >> 16),
            "{} frames",
            ahead.0.len()
        );

        let (done_tx, done) = crossbeam_channel::bounded(1);
        let path = journal.clone();
        std::thread::spawn(move || {
            let mut r = FrameReader::open_with(&path, true, None).unwrap();
            assert!(r.next_frame().unwrap().is_some());
            // Let the thread fill its queue and go to sleep.
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(r);
            let _ = done_tx.send(());
        });
        assert!(
            done.recv_timeout(std::time::Duration::from_secs(20))
                .is_ok(),
            "dropping the reader did not stop its thread"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A journal of many small frames (a flush after every few records): no
    /// more than [`AHEAD_FRAMES`] frames ever wait, however little they
    /// weigh, so the buffers in circulation stay few.
    #[test]
    fn reading_ahead_bounds_the_frames_waiting() {
        let dir = std::env::temp_dir().join(format!("bhtrace-frames-small-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (layer, guard) = crate::Builder::new(dir.join("t.bht"))
            .convert(false)
            .batch_bytes(64)
            .build()
            .unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for i in 0..600u64 {
                tracing::info!(i, "small");
                guard.flush().unwrap();
            }
        });
        let journal = guard.finish().unwrap().journal.unwrap();
        let mut r = FrameReader::open_with(&journal, true, None).unwrap();
        let mut frames = 0;
        let mut most = 0;
        loop {
            // Give the thread time to fill its queue as far as it may.
            if frames % 100 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            if let Frames::Ahead(a) = &r.frames {
                most = most.max(a.state.frames.load(SeqCst));
            }
            if r.next_frame().unwrap().is_none() {
                break;
            }
            frames += 1;
        }
        assert!(frames >= 600, "{frames} frames");
        assert!(most <= AHEAD_FRAMES, "{most} frames waited");
        assert!(most >= AHEAD_FRAMES / 2, "the thread read ahead: {most}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
