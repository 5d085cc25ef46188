//! A small inflater for small zlib streams: the codec's fast path.
//!
//! # Why
//!
//! An orchestration subject is a ~180-character base64 string of a ~130-byte zlib stream
//! (stock zlib, level 6, one *dynamic* Huffman block) that inflates to ~200 bytes of JSON.
//! Decoding one with `zlib-rs` cost ~23k instructions (callgrind), ~21.4k of them in
//! `Inflate::decompress`: ~10.6k building its three lookup tables (`inflate_table`, with 10- and
//! 9-bit root tables), ~5.7k in its slow path and ~4.6k in `inflate_fast`. Every inflater
//! measured (zlib-rs, libdeflate, miniz_oxide, stock zlib) is tuned for large streams and
//! builds big tables per block; for a subject the table building *is* the cost.
//!
//! # How
//!
//! * **Small tables.** Each code gets a root table indexed by the bit buffer as it comes, only
//!   as wide as its longest code (at most 9 bits for literals/lengths, 6 for distances, 7 for
//!   the code-length code): a subject's literal/length codes are 3 to 7 bits long and its
//!   distance codes 1 to 4, so its tables have 128 and 16 entries. A table is filled by doubling: the
//!   codes of each length are written once each, then the table is copied onto its upper half
//!   for the next length. Longer codes go to puff's canonical decoding.
//! * **No sort.** The code lengths are pushed, as they are read, onto per-length symbol lists
//!   (ascending, so already in canonical code order); the code-length code, 19 symbols, keeps
//!   its lists as bit sets. Entries are `symbol << 7 | length`, so a literal is any entry below
//!   `256 << 7` and its byte is one shift away.
//! * **A call-free fast loop.** [`fast_symbols`] decodes every symbol whose codes fit the root
//!   tables, in a function that calls nothing so that its state stays in registers: up to four
//!   literals per refill check and per output-room check, and a length, its distance and their
//!   extra bits looked at before any is consumed, so that a symbol with a longer code can be
//!   left whole to the one-symbol [`slow_symbol`]. The bit reader keeps 56 to 63 bits in a
//!   `u64`, refilled with one 8-byte load (byte by byte within 8 bytes of the end).
//! * **SWAR Adler-32**, eight bytes per step in 16-bit lanes of a `u64`.
//!
//! The tables live in the codec's per-thread scratch, so a call allocates nothing and
//! initialises nothing it does not use.
//!
//! Measured with callgrind on the `subject` bench, per subject: the codec's `decode_into`
//! (base64 + inflate) costs ~8.5k instructions on B3's subjects (`inflate_b3`, UUID v4 ids;
//! ~14.0k with this module's previous version, ~23k with zlib-rs alone) and ~7.9k on B1's
//! (`inflate_b1`; ~12.7k before). Of the ~8.5k, this module takes ~7.5k: ~2.6k reading the
//! header's code lengths and building the code-length code, ~1.1k building the literal/length
//! and distance tables, ~3.4k decoding ~145 symbols, ~0.35k for the Adler-32; base64 ~0.8k.
//! `subject::parse` costs ~15.0k on B3's subjects (~20.4k before). The wall-clock gain is
//! smaller than the instruction count's: the divan medians (2000-iteration samples, a shared
//! 2-core machine) went from ~0.97-1.04 µs to ~0.81 µs (`inflate_b3`) and from ~1.49 µs to
//! ~1.37 µs (`parse_b3`).
//!
//! # Contract
//!
//! [`Inflater::inflate_zlib`] decodes one complete zlib stream or returns `None` on anything
//! unusual or wrong; it never returns a result that `zlib-rs` would not. `zlib-rs` stays the
//! codec's fallback (run on the same input whenever this returns `None`, so errors keep their
//! exact kind) and is the oracle of the differential tests below and of the `inflate_diff`
//! fuzz target. Where zlib accepts something odd (an empty code-length code, say) this
//! inflater may simply give up; the fallback then decides.
//!
//! The code is safe Rust without panics: every index is masked to its table's size or goes
//! through `get`.

use std::sync::OnceLock;

/// Root-table bits of the literal/length code.
const LIT_BITS: u32 = 9;
/// Entries of the literal/length root table.
const LIT_SIZE: usize = 1 << LIT_BITS;
/// Root-table bits of the distance code.
const DIST_BITS: u32 = 6;
/// Entries of the distance root table.
const DIST_SIZE: usize = 1 << DIST_BITS;
/// Bits of the code-length code's table: its codes are at most 7 bits long, so the table is
/// complete and never needs the canonical slow path.
const CL_BITS: u32 = 7;
/// Entries of the code-length table.
const CL_SIZE: usize = 1 << CL_BITS;

/// Width of [`REV`]: the widest root table.
const REV_BITS: u32 = 9;

/// `REV[i]` is the `REV_BITS`-bit value `i` with its bits reversed. Deflate sends a Huffman
/// code's first (most significant) bit first, into the bit buffer's lowest bit: a code's
/// reversed bits are what the bit buffer shows.
static REV: [u16; 1 << REV_BITS] = {
    let mut t = [0u16; 1 << REV_BITS];
    let mut i = 0;
    while i < t.len() {
        t[i] = (i as u16).reverse_bits() >> (16 - REV_BITS);
        i += 1;
    }
    t
};

/// Base length and extra bits of the length symbols 257..=285 (RFC 1951 §3.2.5), indexed by
/// the symbol minus 256. Index 0 (end-of-block) and the invalid symbols 286 and 287 have base 0.
static LENGTH: [(u16, u32); 32] = [
    (0, 0),
    (3, 0),
    (4, 0),
    (5, 0),
    (6, 0),
    (7, 0),
    (8, 0),
    (9, 0),
    (10, 0),
    (11, 1),
    (13, 1),
    (15, 1),
    (17, 1),
    (19, 2),
    (23, 2),
    (27, 2),
    (31, 2),
    (35, 3),
    (43, 3),
    (51, 3),
    (59, 3),
    (67, 4),
    (83, 4),
    (99, 4),
    (115, 4),
    (131, 5),
    (163, 5),
    (195, 5),
    (227, 5),
    (258, 0),
    (0, 0),
    (0, 0),
];

/// Base distance and extra bits of the distance symbols 0..=29. Symbols 30 and 31 (possible
/// only in fixed blocks) are invalid and have base 0.
static DISTANCE: [(u16, u32); 32] = [
    (1, 0),
    (2, 0),
    (3, 0),
    (4, 0),
    (5, 1),
    (7, 1),
    (9, 2),
    (13, 2),
    (17, 3),
    (25, 3),
    (33, 4),
    (49, 4),
    (65, 5),
    (97, 5),
    (129, 6),
    (193, 6),
    (257, 7),
    (385, 7),
    (513, 8),
    (769, 8),
    (1025, 9),
    (1537, 9),
    (2049, 10),
    (3073, 10),
    (4097, 11),
    (6145, 11),
    (8193, 12),
    (12289, 12),
    (16385, 13),
    (24577, 13),
    (0, 0),
    (0, 0),
];

/// The order in which a dynamic block sends the code-length code's lengths.
const CL_ORDER: [u8; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Rows of [`Huffman::syms`] for the literal/length code: a power of two above the 288 symbols
/// (fixed blocks define 288; a dynamic block sends at most 286 lengths), so that masking a
/// count never changes it.
const LIT_ROW: usize = 512;
/// Rows of [`Huffman::syms`] for the distance code (a dynamic block sends at most 30 lengths,
/// fixed blocks define 32 symbols).
const DIST_ROW: usize = 32;

/// A root-table entry is `symbol << SYM_SHIFT | length`, the length in the low four bits.
/// The literals are then exactly the entries below `256 << SYM_SHIFT` = [`NOT_LITERAL`].
const SYM_SHIFT: u32 = 7;
/// Root-table entries from this one on are not literals: end-of-block, lengths, or [`LONG`].
const NOT_LITERAL: u16 = 256 << SYM_SHIFT;
/// Root-table entry for the prefix of a code longer than the root, or of no code: symbol 511
/// (no real symbol) and length 15, which no real entry combines.
const LONG: u16 = 0xffff;

/// Whether an incomplete code may be accepted (zlib's rules, see [`Huffman::build`]).
#[derive(Clone, Copy, PartialEq)]
enum Incomplete {
    /// Must be complete (the fixed codes; the code-length code has its own check, see
    /// [`ClCode::build`]).
    Refuse,
    /// Literal/length and distance codes: a single 1-bit code, or no code at all, is accepted
    /// (decoding a missing code then fails).
    SingleOrEmpty,
}

/// A canonical Huffman code prepared for decoding: a root table for the codes of up to `BITS`
/// bits, and per-length symbol lists (in code order) for the longer ones.
///
/// The code is made by [`Huffman::push`]ing each symbol with its length in ascending symbol
/// order, straight from the stream's code lengths: the per-length lists are then already what a
/// canonical code needs (within a length, codes ascend with the symbols), so no sort is needed.
/// `ROW` (the room per length) is a power of two, at least the number of symbols pushed.
#[derive(Clone)]
struct Huffman<const BITS: u32, const SIZE: usize, const ROW: usize> {
    /// Indexed by the next `root` bits of the stream as they come (first bit lowest), with
    /// `root` the longest code length but at most `BITS`: only the first `mask + 1` entries
    /// are valid. An entry is `symbol << SYM_SHIFT | length`; [`LONG`] marks a prefix of a
    /// longer (or missing) code.
    table: [u16; SIZE],
    /// `2^root - 1`: the bits of the stream that index `table`.
    mask: usize,
    /// `root`: the longest code in the root table.
    root: u32,
    /// Number of codes of each length (`count[0]` counts nothing useful and is ignored).
    count: [u16; 16],
    /// The first (smallest) code of each length up to the longest one in use.
    first: [u32; 16],
    /// The symbols of each length, each as `symbol << SYM_SHIFT` (a root-table entry without
    /// its length), ascending (so in code order); `count[len]` of them are valid.
    syms: [[u16; ROW]; 16],
}

/// The literal/length code.
type LitCode = Huffman<LIT_BITS, LIT_SIZE, LIT_ROW>;
/// The distance code.
type DistCode = Huffman<DIST_BITS, DIST_SIZE, DIST_ROW>;

/// The code-length code of a dynamic block header: at most 19 symbols with codes of at most 7
/// bits, so it needs neither per-length symbol lists nor a slow path.
struct ClCode {
    /// Indexed by the next `root` bits of the stream (first bit lowest), `root` being the
    /// longest code length; entries as in [`Huffman::table`].
    table: [u16; CL_SIZE],
    /// `2^root - 1`.
    mask: usize,
}

impl ClCode {
    /// An empty code.
    const fn new() -> Self {
        ClCode {
            table: [LONG; CL_SIZE],
            mask: 0,
        }
    }

    /// Builds the code from `sets[len]`, the symbols (as bits) with codes of `len` bits, and
    /// `count[len]`, how many there are (index 0 is ignored). Like zlib, refuses a code that is
    /// not complete (an empty one included).
    ///
    /// The table is filled by doubling as in [`Huffman::build`], taking each length's symbols
    /// in ascending order from its set. A complete code covers every entry, so the table needs
    /// no initial fill.
    fn build(&mut self, sets: &[u32; 8], count: &[u16; 8]) -> Option<()> {
        let (mut left, mut code, mut min, mut root) = (1i32, 0u32, 0u32, 0u32);
        let mut first = [0u32; 8];
        for len in 1..8u32 {
            let c = count[len as usize];
            left = (left << 1) - i32::from(c);
            code <<= 1;
            first[len as usize] = code;
            code += u32::from(c);
            if c != 0 {
                if min == 0 {
                    min = len;
                }
                root = len;
            }
        }
        if left != 0 {
            return None;
        }
        self.mask = (1usize << root) - 1;
        let mut size = 1usize << min;
        for len in min..=root {
            if len > min {
                double(&mut self.table, size)?;
                size <<= 1;
            }
            let (mut set, mut code) = (sets[len as usize & 7], first[len as usize & 7] as usize);
            while set != 0 {
                let sym = set.trailing_zeros() as u16;
                set &= set - 1;
                let reversed = usize::from(REV[(code << (REV_BITS - len)) & (REV.len() - 1)]);
                self.table[reversed & (CL_SIZE - 1)] = sym << SYM_SHIFT | len as u16;
                code += 1;
            }
        }
        Some(())
    }

    /// The root-table entry at the next bits of `buf`.
    #[inline(always)]
    fn lookup(&self, buf: u64) -> u16 {
        self.table[buf as usize & self.mask & (CL_SIZE - 1)]
    }
}

impl<const BITS: u32, const SIZE: usize, const ROW: usize> Huffman<BITS, SIZE, ROW> {
    /// An empty code (every lookup fails until [`Huffman::build`] succeeds).
    const fn new() -> Self {
        Huffman {
            table: [LONG; SIZE],
            mask: 0,
            root: 0,
            count: [0; 16],
            first: [0; 16],
            syms: [[0; ROW]; 16],
        }
    }

    /// Forgets the symbols pushed so far.
    #[inline(always)]
    fn clear(&mut self) {
        self.count = [0; 16];
    }

    /// Adds symbol `sym` with a code of `len` bits (1 to 15; 0 goes to an ignored list).
    /// Symbols must come in ascending order, at most `ROW` of them.
    #[inline(always)]
    fn push(&mut self, sym: usize, len: u16) {
        self.push_shifted((sym << SYM_SHIFT) as u16, len);
    }

    /// [`Huffman::push`] of the symbol `shifted >> SYM_SHIFT`.
    #[inline(always)]
    fn push_shifted(&mut self, shifted: u16, len: u16) {
        let l = usize::from(len & 15);
        let c = self.count[l];
        self.syms[l][usize::from(c) & (ROW - 1)] = shifted;
        self.count[l] = c.wrapping_add(1);
    }

    /// The root-table entry at the next bits of `buf`.
    #[inline(always)]
    fn lookup(&self, buf: u64) -> u16 {
        self.table[buf as usize & self.mask & (SIZE - 1)]
    }

    /// Builds the root table from the pushed symbols.
    ///
    /// Like zlib's `inflate_table`, refuses an over-subscribed code; an incomplete one only as
    /// `incomplete` allows (zlib accepts an incomplete code only when its longest code is 1 bit,
    /// and never for the code-length code; it accepts an empty code, whose every use fails).
    ///
    /// The root table has `2^root` entries, `root` being the longest code length (at most
    /// `BITS`); it is filled by doubling: the codes of length `len` are written once each into
    /// a table of `2^len` entries, which is then copied onto its upper half to serve the next
    /// length (a code's entries are the indexes whose low `len` bits are its reversed bits).
    /// So each code costs one store, plus a `2^root`-entry copy in all.
    fn build(&mut self, incomplete: Incomplete) -> Option<()> {
        self.count[0] = 0;
        let n: u16 = self.count.iter().sum();
        // Kraft's sum (as the code space left) and the first code of each length, up to the
        // longest length in use: beyond it the code space left only doubles, so its sign (and
        // whether it is zero) is already known.
        let (mut left, mut total, mut code, mut len) = (1i32, 0u16, 0u32, 0u32);
        while total < n && len < 15 {
            len += 1;
            let c = self.count[len as usize & 15];
            left = (left << 1) - i32::from(c);
            code <<= 1;
            self.first[len as usize & 15] = code;
            code += u32::from(c);
            total += c;
        }
        // The shortest length in use (0 for an empty code).
        let min = self.count.iter().position(|&c| c != 0).unwrap_or(0) as u32;
        if left < 0 {
            return None;
        }
        if left > 0 {
            let single = n == 1 && self.count[1] == 1;
            if incomplete == Incomplete::Refuse || !(single || n == 0) {
                return None;
            }
        }
        // An empty code: a one-entry table that sends every lookup to `decode_long`, which
        // finds nothing.
        let root = len.min(BITS);
        let min = min.min(root);
        self.mask = (1usize << root) - 1;
        self.root = root;
        let mut size = 1usize << min;
        // A complete code whose codes all fit the root writes every entry; otherwise the
        // entries of missing codes and of prefixes of long ones are `LONG`.
        if left > 0 || len > BITS {
            self.table.get_mut(..size)?.fill(LONG);
        }
        for len in min..=root {
            let l = len as usize & 15;
            if len > min {
                double(&mut self.table, size)?;
                size <<= 1;
            }
            let syms = self.syms[l].get(..usize::from(self.count[l]))?;
            let first = self.first[l] as usize;
            for (code, &sym) in (first..).zip(syms) {
                let reversed = usize::from(REV[(code << (REV_BITS - len)) & (REV.len() - 1)]);
                self.table[reversed & (SIZE - 1)] = sym | len as u16;
            }
        }
        Some(())
    }

    /// Decodes one symbol. `bits` must hold at least 15 bits.
    #[inline(always)]
    fn decode(&self, bits: &mut Bits<'_>) -> Option<usize> {
        let e = self.lookup(bits.buf);
        if e != LONG {
            bits.consume(u32::from(e & 15));
            Some(usize::from(e >> SYM_SHIFT))
        } else {
            let (sym, len) = self.decode_long(bits.buf)?;
            bits.consume(len);
            Some(sym)
        }
    }

    /// Decodes a code longer than the root table from the bit buffer `buf`: puff's canonical
    /// decoding, one more bit per step after the first `BITS` (the root has `BITS` bits
    /// whenever a code is longer). Returns the symbol and the code's length.
    #[cold]
    #[inline(never)]
    fn decode_long(&self, buf: u64) -> Option<(usize, u32)> {
        // The first `BITS` bits in code order (most significant first).
        let mut code = u32::from(REV[buf as usize & (REV.len() - 1)] >> (REV_BITS - BITS));
        let mut rest = buf >> BITS;
        let mut len = BITS;
        while len < 15 {
            len += 1;
            code = code << 1 | (rest & 1) as u32;
            rest >>= 1;
            let l = len as usize & 15;
            let i = code.wrapping_sub(self.first[l]);
            if i < u32::from(self.count[l]) {
                let sym = self.syms[l].get(i as usize)?;
                return Some((usize::from(*sym >> SYM_SHIFT), len));
            }
        }
        None
    }
}

/// Copies the first `size` entries of `table` onto the next `size` (a root table's doubling).
/// Whole 32-byte blocks are copied inline; a call to `memcpy` would cost more than the copy.
#[inline(always)]
fn double<const SIZE: usize>(table: &mut [u16; SIZE], size: usize) -> Option<()> {
    let (low, high) = table.split_at_mut_checked(size)?;
    let high = high.get_mut(..size)?;
    if size < 16 {
        high.copy_from_slice(low);
    } else {
        for (h, l) in high
            .as_chunks_mut::<16>()
            .0
            .iter_mut()
            .zip(low.as_chunks::<16>().0)
        {
            *h = *l;
        }
    }
    Some(())
}

/// A little-endian bit reader over the input, with a 64-bit buffer.
///
/// The valid bits are the lowest `cnt` of `buf`; the bits above them are either zero or the
/// true next bits (a refill ORs whole words in, and ORing the same bits twice is harmless).
/// Past the end of the input it reads zero bytes, counted in `over`: the caller notices a
/// truncated stream when its end (`byte_pos`) lies beyond the input.
#[derive(Clone, Copy)]
struct Bits<'a> {
    /// The whole input.
    input: &'a [u8],
    /// The input from the first byte not yet taken into `buf` on.
    rest: &'a [u8],
    /// How many zero bytes past the end of the input `buf` has taken.
    over: usize,
    /// Buffered bits, next bit lowest.
    buf: u64,
    /// Number of valid bits in `buf`, at most 63.
    cnt: u32,
}

impl<'a> Bits<'a> {
    /// A reader of `input` from byte `pos` on.
    fn new(input: &'a [u8], pos: usize) -> Self {
        let mut bits = Bits {
            input,
            rest: &[],
            over: 0,
            buf: 0,
            cnt: 0,
        };
        bits.restart(pos);
        bits
    }

    /// The common case of a refill: eight input bytes are left, so one unaligned word fills
    /// the buffer to at least 56 bits. `false` near the end of the input.
    #[inline(always)]
    fn refill_word(&mut self) -> bool {
        let Some(w) = self.rest.first_chunk::<8>() else {
            return false;
        };
        self.buf |= u64::from_le_bytes(*w) << self.cnt;
        // At most 7: the whole bytes that fit above the valid bits.
        let took = ((63 - self.cnt) >> 3) as usize & 7;
        self.rest = self.rest.get(took..).unwrap_or_default();
        self.cnt |= 56;
        true
    }

    /// Fills the buffer to at least 56 bits. `None` once well past the end of the input (the
    /// stream is truncated then).
    #[inline(always)]
    fn refill(&mut self) -> Option<()> {
        if !self.refill_word() {
            (self.rest, self.over, self.buf, self.cnt) =
                refill_slow(self.rest, self.over, self.buf, self.cnt)?;
        }
        Some(())
    }

    /// [`Bits::refill`] without a call, for loops that call nothing.
    #[inline(always)]
    fn refill_inline(&mut self) -> Option<()> {
        if !self.refill_word() {
            (self.rest, self.over, self.buf, self.cnt) =
                refill_bytes(self.rest, self.over, self.buf, self.cnt)?;
        }
        Some(())
    }

    /// Makes sure that at least `n` bits (at most 56) are buffered.
    #[inline(always)]
    fn ensure(&mut self, n: u32) -> Option<()> {
        if self.cnt < n {
            self.refill()
        } else {
            Some(())
        }
    }

    /// Drops `n` bits (at most `cnt`).
    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf >>= n;
        self.cnt -= n;
    }

    /// Takes the next `n` bits (at most `cnt`, below 32) as a number.
    #[inline(always)]
    fn take(&mut self, n: u32) -> u32 {
        let v = (self.buf & ((1u64 << n) - 1)) as u32;
        self.consume(n);
        v
    }

    /// Drops the bits up to the next byte boundary.
    fn align(&mut self) {
        self.consume(self.cnt & 7);
    }

    /// The position of the next unread byte (past the end of the input if zeros were read);
    /// the reader must be byte-aligned.
    fn byte_pos(&self) -> usize {
        (self.input.len() - self.rest.len() + self.over).saturating_sub((self.cnt >> 3) as usize)
    }

    /// Continues reading at byte `pos` (at most the input's length), with an empty buffer.
    fn restart(&mut self, pos: usize) {
        self.rest = self.input.get(pos..).unwrap_or_default();
        self.over = 0;
        self.buf = 0;
        self.cnt = 0;
    }
}

/// [`Bits::refill`] within 8 bytes of the end of the input: byte by byte, zeros past it. Takes
/// and returns the reader's state by value, so that the reader itself can stay in registers.
#[cold]
#[inline(never)]
fn refill_slow(rest: &[u8], over: usize, buf: u64, cnt: u32) -> Option<(&[u8], usize, u64, u32)> {
    refill_bytes(rest, over, buf, cnt)
}

/// The body of [`refill_slow`].
#[inline(always)]
fn refill_bytes(
    mut rest: &[u8],
    mut over: usize,
    mut buf: u64,
    mut cnt: u32,
) -> Option<(&[u8], usize, u64, u32)> {
    while cnt < 56 {
        let b = if let Some((&b, tail)) = rest.split_first() {
            rest = tail;
            b
        } else {
            over += 1;
            0
        };
        buf |= u64::from(b) << cnt;
        cnt += 8;
    }
    // More than 8 zero bytes loaded means at least one of them was consumed.
    (over <= 8).then_some((rest, over, buf, cnt))
}

/// The inflater's tables, kept in the codec's per-thread scratch so that a call neither
/// allocates nor initialises them.
pub(crate) struct Inflater {
    /// The current dynamic block's literal/length code.
    lit: LitCode,
    /// The current dynamic block's distance code.
    dist: DistCode,
    /// The current dynamic block's code-length code.
    cl: ClCode,
}

impl Inflater {
    /// Empty tables.
    pub(crate) const fn new() -> Self {
        Inflater {
            lit: Huffman::new(),
            dist: Huffman::new(),
            cl: ClCode::new(),
        }
    }

    /// Decodes the one zlib stream at the start of `input` into `out`, and returns how many
    /// bytes it took from `input` (header and Adler-32 trailer included) and wrote to `out`.
    ///
    /// `None` on anything unusual: a bad or dictionary-requiring header, corrupt data, a bad
    /// checksum, a stream that is truncated or does not fit `out`. Bytes after the stream are
    /// not looked at.
    pub(crate) fn inflate_zlib(&mut self, input: &[u8], out: &mut [u8]) -> Option<(usize, usize)> {
        let (&cmf, &flg) = (input.first()?, input.get(1)?);
        // zlib's checks: FCHECK, method 8, a window of at most 32 KiB, no preset dictionary.
        if (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0
            || cmf & 0x0f != 8
            || cmf >> 4 > 7
            || flg & 0x20 != 0
        {
            return None;
        }
        let mut bits = Bits::new(input, 2);
        let mut o = 0;
        loop {
            bits.refill()?;
            let header = bits.take(3);
            o = match header >> 1 {
                0 => stored(&mut bits, out, o)?,
                1 => {
                    let (lit, dist) = fixed()?;
                    inflate_block(&mut bits, lit, dist, out, o)?
                }
                2 => {
                    self.read_dynamic(&mut bits)?;
                    inflate_block(&mut bits, &self.lit, &self.dist, out, o)?
                }
                _ => return None,
            };
            if header & 1 != 0 {
                break;
            }
        }
        bits.align();
        let end = bits.byte_pos();
        let trailer = input.get(end..)?.first_chunk::<4>()?;
        let check = adler32(out.get(..o)?);
        (u32::from_be_bytes(*trailer) == check).then_some((end + 4, o))
    }

    /// Reads a dynamic block's header and builds its three codes, with zlib's checks (but see
    /// the note on end-of-block below).
    #[inline(never)]
    fn read_dynamic(&mut self, reader: &mut Bits<'_>) -> Option<()> {
        // A local copy, so that it lives in registers.
        let mut local = *reader;
        let bits = &mut local;
        bits.refill()?;
        let nlen = bits.take(5) as usize + 257;
        let ndist = bits.take(5) as usize + 1;
        let ncl = bits.take(4) as usize + 4;
        if nlen > 286 || ndist > 30 {
            return None;
        }

        // The code-length code's lengths: at most 19 × 3 bits; the buffer holds 42 more after
        // the 14 just read, so one refill on the way suffices. Each goes straight into the set
        // of symbols of its length.
        let (mut sets, mut count) = ([0u32; 8], [0u16; 8]);
        for (i, &sym) in CL_ORDER.iter().take(ncl).enumerate() {
            if i == 13 {
                bits.refill()?;
            }
            let len = bits.take(3) as usize & 7;
            sets[len] |= 1 << sym;
            count[len] += 1;
        }
        self.cl.build(&sets, &count)?;

        // The literal/length and distance code lengths: one sequence, read in two parts so that
        // each part pushes to one code. A run may cross from the first part into the second.
        self.lit.clear();
        self.dist.clear();
        let total = nlen + ndist;
        let (i, prev) = read_lengths(bits, &self.cl, &mut self.lit, 0, nlen, 0, 0)?;
        if i > total {
            return None;
        }
        if prev != 0 {
            for j in nlen..i {
                self.dist.push(j - nlen, prev);
            }
        }
        let (i, _) = read_lengths(bits, &self.cl, &mut self.dist, i, total, nlen, prev)?;
        if i > total {
            return None;
        }
        // zlib refuses a literal/length code without an end-of-block code ("invalid code --
        // missing end-of-block") here; this inflater does not look: without that code the
        // block can never end, so decoding it fails (returns `None`) all the same, later.
        *reader = local;
        self.lit.build(Incomplete::SingleOrEmpty)?;
        self.dist.build(Incomplete::SingleOrEmpty)
    }
}

/// Reads the code lengths number `i..to` of a dynamic block header with the code-length code
/// `cl`, and pushes the non-zero ones to `code` as symbol `index - base`; `prev` is the length
/// before `i` (for a repeat). Returns where it
/// stopped (at `to`, or past it when the last run goes on past `to`: the caller deals with
/// the rest of the run) and the last length read (the length of that run).
///
/// zlib's checks: a repeat (16) needs a previous length; the caller checks that no run goes
/// past the end of the whole sequence.
#[inline(always)]
fn read_lengths<const BITS: u32, const SIZE: usize, const ROW: usize>(
    bits: &mut Bits<'_>,
    cl: &ClCode,
    code: &mut Huffman<BITS, SIZE, ROW>,
    i: usize,
    to: usize,
    base: usize,
    mut prev: u16,
) -> Option<(usize, u16)> {
    // The loop counts in symbols as pushed, `(index - base) << SYM_SHIFT`.
    const STEP: usize = 1 << SYM_SHIFT;
    let mut at = i.saturating_sub(base) << SYM_SHIFT;
    let stop = to.saturating_sub(base) << SYM_SHIFT;
    while at < stop {
        // A code of at most 7 bits and at most 7 extra bits. The code-length code is
        // complete (`build` refused it otherwise), so every entry is a real code.
        bits.ensure(14)?;
        let e = cl.lookup(bits.buf);
        bits.consume(u32::from(e & 15));
        let sym = e >> SYM_SHIFT;
        if sym < 16 {
            if sym != 0 {
                code.push_shifted(at as u16, sym);
            }
            prev = sym;
            at += STEP;
            continue;
        }
        let (repeat, len) = match sym {
            16 if at > 0 || base > 0 => (3 + bits.take(2) as usize, prev),
            17 => (3 + bits.take(3) as usize, 0),
            18 => (11 + bits.take(7) as usize, 0),
            _ => return None,
        };
        let end = at + (repeat << SYM_SHIFT);
        if len != 0 {
            for j in (at..end.min(stop)).step_by(STEP) {
                code.push_shifted(j as u16, len);
            }
        }
        prev = len;
        at = end;
    }
    Some(((at >> SYM_SHIFT) + base, prev))
}

/// Decodes one block's compressed data with `lit` and `dist` into `out` from `o` on, up to and
/// including its end-of-block code; returns the new output length.
///
/// [`fast_symbols`] decodes all it can; what it leaves (a code longer than a root table) goes
/// through [`slow_symbol`], one symbol at a time.
fn inflate_block(
    reader: &mut Bits<'_>,
    lit: &LitCode,
    dist: &DistCode,
    out: &mut [u8],
    mut o: usize,
) -> Option<usize> {
    loop {
        if fast_symbols(reader, lit, dist, out, &mut o)? {
            return Some(o);
        }
        if slow_symbol(reader, lit, dist, out, &mut o)? {
            return Some(o);
        }
    }
}

/// Decodes symbols into `out` from `*o` on as long as their codes fit the root tables:
/// `Some(true)` after the end-of-block code, `Some(false)` (with nothing of the symbol
/// consumed) at a code longer than a root table, `None` on corrupt or truncated data or when
/// the output is full.
///
/// The common case of [`inflate_block`], in a function of its own that calls nothing, so that
/// its loop keeps everything in registers. A length, its distance and their extra bits are
/// looked at before any of them is consumed, so that the symbol can be left whole.
#[inline(never)]
fn fast_symbols(
    reader: &mut Bits<'_>,
    lit: &LitCode,
    dist: &DistCode,
    out: &mut [u8],
    o: &mut usize,
) -> Option<bool> {
    let mut bits = *reader;
    let mut at = *o;
    // A root-table code has at most `root` bits, and a lookup needs that many buffered: four
    // literals and the lookup after them need `4 root` (a refill gives at least 56 >= 36).
    let need = 4 * lit.root.min(LIT_BITS);
    let end_of_block = 'symbols: loop {
        if bits.cnt < need {
            bits.refill_inline()?;
        }
        // Room for four literals, checked once (near the end of `out`, the slow path takes
        // over, one symbol at a time).
        let Some(room) = out.get_mut(at..).and_then(<[u8]>::first_chunk_mut::<4>) else {
            break false;
        };
        let e = 'literals: {
            for slot in room {
                let e = lit.lookup(bits.buf);
                if e >= NOT_LITERAL {
                    break 'literals e;
                }
                bits.consume(u32::from(e & 15));
                *slot = (e >> SYM_SHIFT) as u8;
                at += 1;
            }
            continue 'symbols;
        };
        // A long code, or a literal/length code with fewer than 15 bits buffered (the slow
        // path refills first).
        if e == LONG {
            break false;
        }
        // The symbol minus 256.
        let sym = usize::from(e >> SYM_SHIFT) - 256;
        if sym == 0 {
            bits.consume(u32::from(e & 15));
            break true;
        }
        // The length code and its extra bits, the distance code and its extra bits: at most
        // 15 + 5 + 15 + 13 = 48 bits.
        if bits.cnt < 48 {
            bits.refill_inline()?;
        }
        let (base, extra) = LENGTH[sym & 31];
        // Symbols 286 and 287 (fixed blocks only): zlib's "invalid literal/length code".
        if base == 0 {
            return None;
        }
        let mut used = u32::from(e & 15);
        let len = usize::from(base) + (bits.buf >> used & ((1 << extra) - 1)) as usize;
        used += extra;
        let de = dist.lookup(bits.buf >> used);
        if de == LONG {
            break false;
        }
        let (base, extra) = DISTANCE[usize::from(de >> SYM_SHIFT) & 31];
        // Symbols 30 and 31 (fixed blocks only): zlib's "invalid distance code".
        if base == 0 {
            return None;
        }
        used += u32::from(de & 15);
        let d = usize::from(base) + (bits.buf >> used & ((1 << extra) - 1)) as usize;
        bits.consume(used + extra);
        at = copy_match(out, at, d, len)?;
    };
    *reader = bits;
    *o = at;
    Some(end_of_block)
}

/// Decodes one symbol (any code) into `out` at `*o`: `Some(true)` if it is the end of the
/// block, `None` on corrupt or truncated data or when the output is full.
#[cold]
#[inline(never)]
fn slow_symbol(
    bits: &mut Bits<'_>,
    lit: &LitCode,
    dist: &DistCode,
    out: &mut [u8],
    o: &mut usize,
) -> Option<bool> {
    bits.ensure(15)?;
    let sym = lit.decode(bits)?;
    if sym < 256 {
        *out.get_mut(*o)? = sym as u8;
        *o += 1;
        return Some(false);
    }
    if sym == 256 {
        return Some(true);
    }
    bits.ensure(33)?;
    let (base, extra) = LENGTH[(sym - 256) & 31];
    if base == 0 {
        return None;
    }
    let len = usize::from(base) + bits.take(extra) as usize;
    let (base, extra) = DISTANCE[dist.decode(bits)? & 31];
    if base == 0 {
        return None;
    }
    let d = usize::from(base) + bits.take(extra) as usize;
    *o = copy_match(out, *o, d, len)?;
    Some(false)
}

/// Copies `len` bytes from `d` bytes back in `out` to `o` and returns the new output length,
/// without calling anything. `None` if `d` reaches before the start of the output (zlib-rs:
/// "invalid distance too far back"; the window starts empty) or the copy does not fit.
#[inline(always)]
fn copy_match(out: &mut [u8], o: usize, d: usize, len: usize) -> Option<usize> {
    let start = o.checked_sub(d)?;
    let end = o + len;
    if end > out.len() {
        return None;
    }
    if d >= 8 && end + 8 <= out.len() {
        // Eight bytes at a time; a source word never overlaps its destination, and the last
        // word may write up to 7 bytes past `end`, which later output overwrites (nothing
        // reads `out` at or beyond `o` before writing it).
        let (mut s, mut t) = (start, o);
        while t < end {
            let w = *out.get(s..)?.first_chunk::<8>()?;
            *out.get_mut(t..)?.first_chunk_mut::<8>()? = w;
            s += 8;
            t += 8;
        }
    } else {
        // Byte by byte: an overlapping copy repeats its own output.
        for t in o..end {
            let b = *out.get(t - d)?;
            *out.get_mut(t)? = b;
        }
    }
    Some(end)
}

/// Copies a stored block into `out` from `o` on; returns the new output length.
fn stored(bits: &mut Bits<'_>, out: &mut [u8], o: usize) -> Option<usize> {
    bits.align();
    let at = bits.byte_pos();
    let [l0, l1, n0, n1] = *bits.input.get(at..)?.first_chunk::<4>()?;
    let len = u16::from_le_bytes([l0, l1]);
    // zlib: "invalid stored block lengths".
    if len != !u16::from_le_bytes([n0, n1]) {
        return None;
    }
    let (start, len) = (at + 4, usize::from(len));
    let data = bits.input.get(start..start + len)?;
    out.get_mut(o..o + len)?.copy_from_slice(data);
    bits.restart(start + len);
    Some(o + len)
}

/// The fixed Huffman codes (RFC 1951 §3.2.6), built once.
fn fixed() -> Option<&'static (LitCode, DistCode)> {
    static FIXED: OnceLock<Option<Box<(LitCode, DistCode)>>> = OnceLock::new();
    FIXED
        .get_or_init(|| {
            let mut codes = Box::new((LitCode::new(), DistCode::new()));
            for sym in 0..288 {
                let len = match sym {
                    0..=143 => 8,
                    144..=255 => 9,
                    256..=279 => 7,
                    _ => 8,
                };
                codes.0.push(sym, len);
            }
            codes.0.build(Incomplete::Refuse)?;
            for sym in 0..32 {
                codes.1.push(sym, 5);
            }
            codes.1.build(Incomplete::Refuse)?;
            Some(codes)
        })
        .as_deref()
}

/// The Adler-32 checksum of `data` (RFC 1950).
///
/// Eight bytes per step in a `u64` (SWAR): the even and the odd bytes of each word are added
/// into four 16-bit lanes each (`even`, `odd`: per byte position, the sum over the words so
/// far), and so are those sums as they were before each word (`pre_even`, `pre_odd`). Every
/// eight words (or fewer, at the end), multiplications sum the lanes, weighted or not, into
/// the top lane and the lanes start again. Over `k` words with lane sums `s_j` (byte position
/// `j`) and before-sums `p_j`, `a` gains `Σ s_j` and `b` gains `8 k a + 8 Σ p_j + Σ (8 - j)
/// s_j`. The totals stay far below 2^64 over a chunk, so they are reduced once per chunk.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u64 = 65521;
    // Bytes per chunk: b < 2^16 (1 + n) + 255 n² / 2 stays below 2^64.
    const CHUNK: usize = 1 << 20;
    let (mut a, mut b) = (1u64, 0u64);
    for chunk in data.chunks(CHUNK) {
        let (blocks, rest) = chunk.as_chunks::<64>();
        for block in blocks {
            (a, b) = adler_words(a, b, block.as_chunks::<8>().0);
        }
        let (words, rest) = rest.as_chunks::<8>();
        (a, b) = adler_words(a, b, words);
        for &x in rest {
            a += u64::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16 | a) as u32
}

/// [`adler32`]'s step over at most eight words (64 bytes): the new unreduced `a` and `b`.
#[inline(always)]
fn adler_words(a: u64, b: u64, words: &[[u8; 8]]) -> (u64, u64) {
    /// The low byte of each 16-bit lane.
    const LANES: u64 = 0x00ff_00ff_00ff_00ff;
    /// Sums the four lanes into the top one.
    const SUM: u64 = 0x0001_0001_0001_0001;
    /// Weights 8, 6, 4, 2 for bytes 0, 2, 4, 6 (the lane of byte 0 meets the top factor).
    const EVEN: u64 = 8 << 48 | 6 << 32 | 4 << 16 | 2;
    /// Weights 7, 5, 3, 1 for bytes 1, 3, 5, 7.
    const ODD: u64 = 7 << 48 | 5 << 32 | 3 << 16 | 1;
    let (mut even, mut odd, mut pre_even, mut pre_odd) = (0u64, 0u64, 0u64, 0u64);
    for w in words.iter().take(8) {
        let w = u64::from_le_bytes(*w);
        pre_even += even;
        pre_odd += odd;
        even += w & LANES;
        odd += w >> 8 & LANES;
    }
    // Lanes: sums at most 255 · 8 = 2040, before-sums at most 255 · 28 = 7140, so every lane
    // of every product below stays under 2^16 and none carries into the top lane.
    let k = words.len().min(8) as u64;
    let sum = (even + odd).wrapping_mul(SUM) >> 48;
    let pre = (pre_even + pre_odd).wrapping_mul(SUM) >> 48;
    let weighted = (even.wrapping_mul(EVEN) >> 48) + (odd.wrapping_mul(ODD) >> 48);
    (a + sum, b + 8 * k * a + 8 * pre + weighted)
}

/// [`Inflater::inflate_zlib`] with fresh tables (for tests and fuzzing; the codec reuses its
/// per-thread ones).
pub(crate) fn inflate_zlib(input: &[u8], out: &mut [u8]) -> Option<(usize, usize)> {
    Inflater::new().inflate_zlib(input, out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! Differential tests: whenever the small inflater returns `Some`, zlib-rs must succeed on
    //! the same input with the same bytes consumed and produced; on streams made by zlib it
    //! must return `Some`.

    use super::*;
    use proptest::prelude::*;
    use std::io::Write;
    use zlib_rs::{Inflate, InflateFlush, Status};

    /// One stream's result: bytes consumed, the inflated bytes.
    type Decoded = (usize, Vec<u8>);

    /// zlib-rs (the oracle) on one zlib stream with `cap` bytes of output room.
    fn oracle(input: &[u8], cap: usize) -> Option<Decoded> {
        let mut st = Inflate::new(true, 15);
        let mut out = vec![0; cap];
        match st.decompress(input, &mut out, InflateFlush::NoFlush) {
            Ok(Status::StreamEnd) => {
                out.truncate(st.total_out() as usize);
                Some((st.total_in() as usize, out))
            }
            _ => None,
        }
    }

    /// The small inflater, checked against the oracle: its `Some` must be the oracle's.
    fn diff(input: &[u8], cap: usize) -> Option<Decoded> {
        let mut out = vec![0xa5; cap];
        let fast = inflate_zlib(input, &mut out).map(|(consumed, produced)| {
            out.truncate(produced);
            (consumed, out)
        });
        if let Some(fast) = &fast {
            assert_eq!(
                Some(fast),
                oracle(input, cap).as_ref(),
                "input {input:02x?}"
            );
        }
        fast
    }

    /// The whole codec with and without the fast path: identical results.
    fn codec_diff(data: &[u8]) {
        let run = |fast: bool| {
            let mut out = vec![0; MAX_DECODED_LEN_FOR_TESTS];
            let mut inflater = Inflater::new();
            let r =
                super::super::inflate_all(data, &mut out, &mut None, fast.then_some(&mut inflater));
            r.map(|n| out[..n].to_vec())
        };
        assert_eq!(run(true), run(false), "input {data:02x?}");
    }

    /// A smaller output buffer than the codec's keeps the tests fast.
    const MAX_DECODED_LEN_FOR_TESTS: usize = 8 * 1024 + 1;

    fn zlib(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Stock zlib with a sync flush after each of `parts`: several blocks, empty stored ones
    /// among them.
    fn zlib_flushed(parts: &[&[u8]], level: u32) -> Vec<u8> {
        let mut c = flate2::Compress::new(flate2::Compression::new(level), true);
        let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() * 2 + 64);
        for (i, p) in parts.iter().enumerate() {
            let flush = if i + 1 == parts.len() {
                flate2::FlushCompress::Finish
            } else {
                flate2::FlushCompress::Sync
            };
            let before = c.total_in() as usize;
            let mut rest = *p;
            loop {
                out.reserve(rest.len() + 64);
                let st = c.compress_vec(rest, &mut out, flush).unwrap();
                rest = &p[c.total_in() as usize - before..];
                if st == flate2::Status::StreamEnd
                    || (rest.is_empty() && out.len() < out.capacity())
                {
                    break;
                }
            }
        }
        out
    }

    /// zlib-rs's deflate: another encoder, with strategies (fixed codes only, Huffman only,
    /// run-length) and window sizes stock zlib is not asked for here.
    fn zlib_rs_deflate(data: &[u8], level: i32, strategy: u8, window_bits: i32) -> Vec<u8> {
        let strategy = match strategy % 5 {
            0 => zlib_rs::Strategy::Default,
            1 => zlib_rs::Strategy::Filtered,
            2 => zlib_rs::Strategy::HuffmanOnly,
            3 => zlib_rs::Strategy::Rle,
            _ => zlib_rs::Strategy::Fixed,
        };
        let config = zlib_rs::DeflateConfig {
            level,
            strategy,
            window_bits,
            ..zlib_rs::DeflateConfig::default()
        };
        let mut buf = vec![0; zlib_rs::compress_bound(data.len()) + 64];
        let (out, rc) = zlib_rs::compress_slice(&mut buf, data, config);
        assert_eq!(rc, zlib_rs::ReturnCode::Ok);
        out.to_vec()
    }

    /// A stream that decodes must round-trip through the fast path, be refused by it with one
    /// byte less of room, and pass the codec differential.
    fn roundtrip(stream: &[u8], data: &[u8]) {
        let cap = data.len() + 16;
        let got = diff(stream, cap).expect("the fast path decodes a zlib-made stream");
        assert_eq!(got, (stream.len(), data.to_vec()));
        if !data.is_empty() {
            assert_eq!(diff(stream, data.len() - 1), None);
        }
        assert_eq!(diff(stream, data.len()).map(|d| d.1), Some(data.to_vec()));
        codec_diff(stream);
    }

    /// Every string in the repository's fixtures, as lenient base64 (and the hex of
    /// `deflatedHex`): the fast path agrees with zlib-rs, and decodes every stream zlib-rs does.
    #[test]
    fn fixtures_agree_with_zlib_rs() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let (mut streams, mut decoded) = (0, 0);
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // A few fixtures hold JSON that serde_json refuses (lone surrogate escapes).
            let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
                assert!(!path.ends_with("orchestration_subjects.json"));
                continue;
            };
            let mut strings = Vec::new();
            collect(&json, None, &mut strings);
            for (key, s) in strings {
                let mut buf = Vec::new();
                let raw = super::super::base64_decode_lenient(&s, &mut buf).to_vec();
                let mut inputs = vec![raw];
                if key.as_deref() == Some("deflatedHex") {
                    inputs.push(
                        (0..s.len() / 2)
                            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
                            .collect(),
                    );
                }
                for input in inputs {
                    let zlib_rs = oracle(&input, 1 << 16);
                    let fast = diff(&input, 1 << 16);
                    if zlib_rs.is_some() {
                        streams += 1;
                        assert!(fast.is_some(), "{}: {s}", path.display());
                        decoded += 1;
                    }
                    codec_diff(&input);
                }
            }
        }
        assert!(streams > 20, "only {streams} streams in the fixtures");
        assert_eq!(streams, decoded);
    }

    /// Every string under `v`, with its object key.
    fn collect(v: &serde_json::Value, key: Option<&str>, out: &mut Vec<(Option<String>, String)>) {
        match v {
            serde_json::Value::String(s) => out.push((key.map(str::to_owned), s.clone())),
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect(x, key, out)),
            serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| collect(x, Some(k), out)),
            _ => {}
        }
    }

    #[test]
    fn subject_sized_streams_use_a_dynamic_block() {
        let json = br#"{"orchestrator":{"name":"arvo.orc.bench.calc","version":"1.0.0"},"execution":{"id":"b1-10001","initiator":"com.bench.client","domain":null},"meta":{}}"#;
        let stream = zlib(json, 6);
        // BTYPE of the first block, right after the 2-byte header.
        assert_eq!(stream[2] >> 1 & 3, 2);
        roundtrip(&stream, json);
    }

    #[test]
    fn stored_fixed_and_empty() {
        for data in [&b""[..], b"a", b"ab", b"hello hello hello", &[0u8; 300]] {
            for level in 0..=9 {
                roundtrip(&zlib(data, level), data);
            }
        }
        // Stored blocks of the maximum length.
        let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let stream = zlib(&big, 0);
        assert_eq!(diff(&stream, big.len()).unwrap().1, big);
    }

    #[test]
    fn adler32_matches_the_plain_definition() {
        let plain = |d: &[u8]| {
            let (mut a, mut b) = (1u32, 0u32);
            for &x in d {
                a = (a + u32::from(x)) % 65521;
                b = (b + a) % 65521;
            }
            b << 16 | a
        };
        for n in [0, 1, 15, 16, 17, 5551, 5552, 5553, 20_000] {
            let d: Vec<u8> = (0..n).map(|i| 255 - (i % 7) as u8).collect();
            assert_eq!(adler32(&d), plain(&d), "{n}");
        }
    }

    #[test]
    fn bad_headers_are_left_to_zlib_rs() {
        let good = zlib(b"abc", 6);
        let mut out = [0u8; 16];
        assert!(inflate_zlib(&good, &mut out).is_some());
        // FCHECK, method, window size, preset dictionary, then gzip.
        for header in [[0x78, 0x9d], [0x79, 0x9c - 31], [0x88, 0x1c], [0x78, 0xbb]] {
            let mut bad = good.clone();
            bad[..2].copy_from_slice(&header);
            assert_eq!(diff(&bad, 16), None, "{header:02x?}");
        }
        assert_eq!(diff(&[0x1f, 0x8b, 8, 0], 16), None);
        assert_eq!(diff(&[], 16), None);
        assert_eq!(diff(&[0x78], 16), None);
    }

    /// A hand-made dynamic block with the given code lengths, emitting `symbols` (each a
    /// literal/length or distance symbol with its extra bits) and end-of-block; the trailer is
    /// the Adler-32 of `expected`.
    struct Crafted {
        lit: Vec<u8>,
        dist: Vec<u8>,
    }

    /// A bit writer for [`Crafted`].
    #[derive(Default)]
    struct Writer {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }

    impl Writer {
        fn put(&mut self, v: u32, n: u32) {
            self.acc |= u64::from(v) << self.n;
            self.n += n;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// A Huffman code, most significant bit first (nothing for a missing, 0-bit code).
        fn code(&mut self, code: u32, len: u32) {
            if len > 0 {
                self.put(code.reverse_bits() >> (32 - len), len);
            }
        }
        fn finish(mut self) -> Vec<u8> {
            if self.n > 0 {
                self.out.push(self.acc as u8);
            }
            self.out
        }
    }

    /// Canonical codes of `lens`.
    fn canonical(lens: &[u8]) -> Vec<u32> {
        let mut count = [0u32; 16];
        for &l in lens {
            count[usize::from(l)] += 1;
        }
        count[0] = 0;
        let mut next = [0u32; 16];
        let mut code = 0;
        for l in 1..16 {
            code = (code + count[l - 1]) << 1;
            next[l] = code;
        }
        lens.iter()
            .map(|&l| {
                let c = next[usize::from(l)];
                next[usize::from(l)] += 1;
                c
            })
            .collect()
    }

    /// One emitted item of a crafted block.
    enum Item {
        /// A literal/length symbol, then its extra bits `(value, count)`.
        Lit(usize, (u32, u32)),
        /// A distance symbol, then its extra bits.
        Dist(usize, (u32, u32)),
        /// Raw code bits `(code, length)`, most significant first.
        Raw(u32, u32),
    }

    impl Crafted {
        fn stream(&self, items: &[Item], expected: &[u8]) -> Vec<u8> {
            let mut w = Writer::default();
            w.put(0x78, 8);
            w.put(0x01, 8);
            w.put(1, 1); // final
            w.put(2, 2); // dynamic
            w.put(self.lit.len() as u32 - 257, 5);
            w.put(self.dist.len() as u32 - 1, 5);
            w.put(19 - 4, 4);
            // Code-length code: symbols 0..=15 all 4 bits long (complete), 16..=18 unused.
            for sym in CL_ORDER {
                w.put(if sym < 16 { 4 } else { 0 }, 3);
            }
            for &l in self.lit.iter().chain(&self.dist) {
                w.code(u32::from(l), 4);
            }
            let (lc, dc) = (canonical(&self.lit), canonical(&self.dist));
            for item in items.iter().chain([&Item::Lit(256, (0, 0))]) {
                let (code, len, extra) = match *item {
                    Item::Lit(s, e) => (lc[s], u32::from(self.lit[s]), e),
                    Item::Dist(s, e) => (dc[s], u32::from(self.dist[s]), e),
                    Item::Raw(code, len) => (code, len, (0, 0)),
                };
                w.code(code, len);
                w.put(extra.0, extra.1);
            }
            let mut out = w.finish();
            out.extend(adler32(expected).to_be_bytes());
            out
        }
    }

    /// Literal/length lengths: `lens` for the listed symbols, zero for the others.
    fn lit_lens(n: usize, lens: &[(usize, u8)]) -> Vec<u8> {
        let mut v = vec![0; n];
        for &(s, l) in lens {
            v[s] = l;
        }
        v
    }

    #[test]
    fn incomplete_and_oversubscribed_codes_follow_zlib() {
        use Item::{Dist, Lit, Raw};
        // 'a' (2 bits), 'b' (2), EOB (2), length 3 (3), one spare 3-bit code.
        let lit = lit_lens(258, &[(97, 2), (98, 2), (256, 2), (257, 3)]);
        let complete = lit_lens(258, &[(97, 2), (98, 2), (256, 2), (257, 3), (100, 3)]);
        // "ab", then 3 bytes from distance 2.
        let abab: &[Item] = &[
            Lit(97, (0, 0)),
            Lit(98, (0, 0)),
            Lit(257, (0, 0)),
            Dist(1, (0, 0)),
        ];
        // "a", then 3 bytes from distance 1.
        let aaaa: &[Item] = &[Lit(97, (0, 0)), Lit(257, (0, 0)), Dist(0, (0, 0))];
        // Complete codes decode.
        let c = Crafted {
            lit: complete.clone(),
            dist: vec![1, 1],
        };
        roundtrip(&c.stream(abab, b"ababa"), b"ababa");
        // An incomplete literal/length code (not a single 1-bit code): zlib refuses.
        let c = Crafted {
            lit: lit.clone(),
            dist: vec![1, 1],
        };
        let s = c.stream(abab, b"ababa");
        assert_eq!((diff(&s, 64), oracle(&s, 64)), (None, None));
        // A single 1-bit distance code: accepted; its missing code is not.
        let c = Crafted {
            lit: complete.clone(),
            dist: vec![1],
        };
        roundtrip(&c.stream(aaaa, b"aaaa"), b"aaaa");
        let missing: &[Item] = &[Lit(97, (0, 0)), Lit(257, (0, 0)), Raw(1, 1)];
        let s = c.stream(missing, b"aaaa");
        assert_eq!((diff(&s, 64), oracle(&s, 64)), (None, None));
        // No distance code at all: fine for literal-only data, a failure once one is used.
        let c = Crafted {
            lit: complete.clone(),
            dist: vec![0],
        };
        roundtrip(&c.stream(&[Lit(97, (0, 0)), Lit(98, (0, 0))], b"ab"), b"ab");
        let s = c.stream(&[Lit(97, (0, 0)), Lit(257, (0, 0)), Raw(0, 1)], b"aaaa");
        assert_eq!((diff(&s, 64), oracle(&s, 64)), (None, None));
        // A literal/length code with only end-of-block, 1 bit long.
        let c = Crafted {
            lit: lit_lens(257, &[(256, 1)]),
            dist: vec![1, 1],
        };
        roundtrip(&c.stream(&[], b""), b"");
        // Over-subscribed: zlib refuses.
        let over = lit_lens(258, &[(97, 1), (98, 1), (256, 1)]);
        let c = Crafted {
            lit: over,
            dist: vec![1, 1],
        };
        let s = c.stream(&[Lit(97, (0, 0))], b"a");
        assert_eq!((diff(&s, 64), oracle(&s, 64)), (None, None));
        // No end-of-block code: zlib refuses.
        let c = Crafted {
            lit: lit_lens(258, &[(97, 1), (98, 1)]),
            dist: vec![1, 1],
        };
        let s = c.stream(&[], b"");
        assert_eq!(diff(&s, 64), None);
        assert_eq!(oracle(&s, 64), None);
        // A distance beyond the output so far: zlib-rs refuses.
        let far: &[Item] = &[Lit(97, (0, 0)), Lit(257, (0, 0)), Dist(1, (0, 0))];
        let c = Crafted {
            lit: complete,
            dist: vec![1, 1],
        };
        let s = c.stream(far, b"aaaa");
        assert_eq!((diff(&s, 64), oracle(&s, 64)), (None, None));
    }

    /// Pieces of subject-like JSON, so that generated text has matches to find.
    const VOCAB: &[&str] = &[
        r#"{""#,
        r#"":""#,
        r#"",""#,
        "}",
        "{",
        ",",
        ":",
        "null",
        "true",
        "\"",
        "orchestrator",
        "execution",
        "initiator",
        "domain",
        "meta",
        "name",
        "version",
        "arvo.orc.",
        "com.example.",
        "1.0.0",
        "b1-",
        "-",
        "0",
        "1",
        "42",
        "9f3c",
        "e0a1-4b7d",
        " ",
        "\\n",
        "é",
        "\u{1F600}",
    ];

    /// JSON-like text, random bytes, or long low-entropy runs (long matches, far distances).
    fn data() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            4 => prop::sample::select(VOCAB).prop_map(|s| s.as_bytes().to_vec()),
            1 => "[ -~]{1,6}".prop_map(String::into_bytes),
        ];
        prop_oneof![
            6 => prop::collection::vec(piece.clone(), 0..120).prop_map(|v| v.concat()),
            1 => prop::collection::vec(piece, 0..40)
                .prop_map(|v| v.concat().repeat(40)),
            2 => prop::collection::vec(any::<u8>(), 0..1500),
            1 => prop::collection::vec(0u8..3, 0..3000),
        ]
    }

    /// How a stream is made.
    #[derive(Debug, Clone)]
    enum Encoder {
        /// Stock zlib at a level (0 stores, small inputs get fixed codes, the rest dynamic).
        Zlib(u32),
        /// Stock zlib with a sync flush at these fractions of the input (several blocks).
        Flushed(u32, Vec<u8>),
        /// zlib-rs: level, strategy, window bits.
        ZlibRs(i32, u8, i32),
    }

    fn encoder() -> impl Strategy<Value = Encoder> {
        prop_oneof![
            3 => (0u32..=9).prop_map(Encoder::Zlib),
            1 => (0u32..=9, prop::collection::vec(any::<u8>(), 1..4))
                .prop_map(|(l, cuts)| Encoder::Flushed(l, cuts)),
            2 => (0i32..=9, any::<u8>(), 9i32..=15).prop_map(|(l, s, w)| Encoder::ZlibRs(l, s, w)),
        ]
    }

    fn encode(data: &[u8], how: &Encoder) -> Vec<u8> {
        match how {
            Encoder::Zlib(level) => zlib(data, *level),
            Encoder::Flushed(level, cuts) => {
                let mut at: Vec<usize> = cuts
                    .iter()
                    .map(|&c| data.len() * usize::from(c) / 255)
                    .collect();
                at.sort_unstable();
                let mut parts = Vec::new();
                let mut from = 0;
                for a in at.into_iter().chain([data.len()]) {
                    parts.push(&data[from..a]);
                    from = a;
                }
                zlib_flushed(&parts, *level)
            }
            Encoder::ZlibRs(level, strategy, bits) => {
                zlib_rs_deflate(data, *level, *strategy, *bits)
            }
        }
    }

    /// A change to a valid stream.
    #[derive(Debug, Clone)]
    enum Damage {
        /// Flip bit `.1 % 8` of byte `.0 % len`.
        Flip(usize, u8),
        /// Keep only the first `.0 % len` bytes.
        Truncate(usize),
        /// Append bytes.
        Append(Vec<u8>),
        /// Set byte `.0 % len` to `.1`.
        Set(usize, u8),
    }

    fn damage() -> impl Strategy<Value = Damage> {
        prop_oneof![
            4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Flip(i, b)),
            1 => any::<usize>().prop_map(Damage::Truncate),
            1 => prop::collection::vec(any::<u8>(), 1..8).prop_map(Damage::Append),
            2 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Set(i, b)),
        ]
    }

    fn apply(stream: &mut Vec<u8>, damage: &Damage) {
        let len = stream.len();
        match damage {
            Damage::Flip(i, b) => stream[i % len] ^= 1 << (b % 8),
            Damage::Truncate(n) => stream.truncate(n % len),
            Damage::Append(bytes) => stream.extend(bytes),
            Damage::Set(i, b) => stream[i % len] = *b,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever zlib (or zlib-rs) deflates, the fast path inflates, exactly.
        #[test]
        fn zlib_made_streams_decode(data in data(), how in encoder()) {
            let stream = encode(&data, &how);
            roundtrip(&stream, &data);
        }

        /// Damaged streams: the fast path gives up, or agrees with zlib-rs.
        #[test]
        fn damaged_streams_agree(
            data in data(),
            how in encoder(),
            damages in prop::collection::vec(damage(), 1..4),
            cap in prop_oneof![Just(usize::MAX), 0usize..400],
        ) {
            let mut stream = encode(&data, &how);
            for d in &damages {
                if !stream.is_empty() {
                    apply(&mut stream, d);
                }
            }
            diff(&stream, cap.min(data.len() + 300));
            codec_diff(&stream);
        }

        /// Random deflate data behind a valid header (and random bytes).
        #[test]
        fn random_bodies_agree(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut stream = vec![0x78, 0x9c];
            stream.extend(&body);
            diff(&stream, 1024);
            diff(&body, 1024);
            codec_diff(&stream);
        }
    }
}
