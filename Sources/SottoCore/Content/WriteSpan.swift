/// Where one write lands: which blocks it reseals and which ciphertext bytes it writes. Pure
/// arithmetic on the layout, kept apart from the sealing (`WritePlan`) and the I/O
/// (`EncryptedFile`) so it can be tested on its own, as gocryptfs tests its offset planner
/// (`WriteSpanTests`).
///
/// A write of `count` bytes at `offset` ≤ `oldSize` reseals every block from the first it
/// touches to the last it touches — and, when the file grows, to the new final block, because
/// the old final block stops being final (its AAD's last flag changes) and every block after it
/// is new. Every resealed block but the last is whole, so block i lands at
/// `cipherOffset + (i - first) × cipherBlockSize`.
public struct WriteSpan: Equatable, Sendable {
    public let blockSize: Int, cipherBlockSize: Int
    public let offset: Int, count: Int, oldSize: Int
    public var end: Int { offset + count }
    public let newSize: Int
    public let oldFinal: Int, newFinal: Int
    /// The first and last block resealed.
    public let first: Int, last: Int
    /// Where block `first` starts in the backing file, and how many bytes are written from there.
    public let cipherOffset: Int, cipherLength: Int
    /// When growing: how far into the written bytes the blocks the file did not have begin
    /// (written first, so a full disk leaves the old content intact); nil otherwise.
    public let newBlocksFrom: Int?

    public init(layout: ContentLayout, offset: Int, count: Int, oldSize: Int) {
        precondition(offset >= 0 && offset <= oldSize && count > 0)
        let B = layout.blockSize, CB = layout.cipherBlockSize
        blockSize = B
        cipherBlockSize = CB
        self.offset = offset
        self.count = count
        self.oldSize = oldSize
        newSize = max(oldSize, offset + count)
        oldFinal = oldSize / B
        newFinal = newSize / B
        first = offset / B
        last = newSize > oldSize ? newFinal : (offset + count - 1) / B
        cipherOffset = layout.cipherOffset(ofBlock: first)
        cipherLength = (last - first) * CB + min(B, newSize - last * B) + AESGCM.overhead
        newBlocksFrom = oldFinal + 1 <= last ? (oldFinal + 1 - first) * CB : nil
    }

    public var blocks: ClosedRange<Int> { first...last }

    /// Plaintext bytes block `i` holds after the write.
    public func length(ofBlock i: Int) -> Int { min(blockSize, newSize - i * blockSize) }

    /// Plaintext bytes block `i` held before (0 for a block the file did not have).
    public func oldLength(ofBlock i: Int) -> Int { i <= oldFinal ? max(0, min(blockSize, oldSize - i * blockSize)) : 0 }

    /// Whether some of block `i`'s old bytes survive the write, so it must be read and merged.
    public func keepsOldBytes(ofBlock i: Int) -> Bool {
        let start = i * blockSize, old = oldLength(ofBlock: i)
        return old > 0 && !(offset <= start && end >= start + old)
    }

    /// Whether the written data alone is block `i`'s new content (sealed straight from it).
    public func dataCoversWhole(block i: Int) -> Bool {
        let start = i * blockSize
        return !keepsOldBytes(ofBlock: i) && offset <= start && end >= start + length(ofBlock: i)
    }
}
