import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One write's blocks (`span`), sealed into `sealed` (block i at `(i - first) * cipherBlockSize`)
/// with the nonces drawn for it.
struct WritePlan: @unchecked Sendable {
    let data: UnsafeRawBufferPointer
    let span: WriteSpan
    var offset: Int { span.offset }
    var first: Int { span.first }
    let sealed: UnsafeMutableRawBufferPointer
    let nonces: UnsafeRawBufferPointer
    let cipher: BlockCipher
    let layout: ContentLayout

    /// Whole blocks per core below which splitting a write costs more than it saves (a thread
    /// hand-off is some microseconds; a 16 KiB block seals in about 6).
    static let parallelMinimum = 16
    static let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// Seals edge block `i`, merging the old bytes that survive — already in the scratch block,
    /// read by the caller when `span.keepsOldBytes(ofBlock: i)` — and zero-filling what neither
    /// the old content nor `data` covers.
    func seal(_ i: Int, scratch: CodecScratch) throws {
        let B = layout.blockSize
        let end = span.end
        let blockStart = i * B
        let len = span.length(ofBlock: i)
        let oldLen = span.oldLength(ofBlock: i)
        let survives = span.keepsOldBytes(ofBlock: i)
        let plaintext: UnsafeRawBufferPointer
        if span.dataCoversWhole(block: i) {
            plaintext = UnsafeRawBufferPointer(rebasing: data[(blockStart - offset)..<(blockStart - offset + len)])
        } else {
            let merged = scratch.block
            if len > oldLen || !survives {
                let zeroFrom = survives ? oldLen : 0
                if len > zeroFrom { memset(merged.baseAddress! + zeroFrom, 0, len - zeroFrom) }
            }
            let from = max(offset, blockStart), to = min(end, blockStart + len)
            if to > from {
                (merged.baseAddress! + (from - blockStart)).copyMemory(from: data.baseAddress! + (from - offset), byteCount: to - from)
            }
            plaintext = UnsafeRawBufferPointer(rebasing: merged[0..<len])
        }
        try sealBlock(i, plaintext, gcm: scratch.gcm)
    }

    /// Seals blocks the data covers whole (full-size, not final), split across cores when many.
    func sealWhole(_ blocks: Range<Int>, scratch: CodecScratch, codecs: CodecPool) throws {
        let parts = min(Self.cores, blocks.count / Self.parallelMinimum)
        if parts < 2 {
            for i in blocks { try sealWholeBlock(i, gcm: scratch.gcm) }
            return
        }
        let failure = Mutex(), per = (blocks.count + parts - 1) / parts
        nonisolated(unsafe) var firstError: Error?
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let lo = blocks.lowerBound + part * per, hi = min(blocks.upperBound, lo + per)
            do {
                try codecs.with { s in for i in lo..<hi { try sealWholeBlock(i, gcm: s.gcm) } }
            } catch {
                failure.withLock { if firstError == nil { firstError = error } }
            }
        }
        if let firstError { throw firstError }
    }

    private func sealWholeBlock(_ i: Int, gcm: AESGCM) throws {
        let B = layout.blockSize, at = i * B - offset
        try sealBlock(i, UnsafeRawBufferPointer(rebasing: data[at..<(at + B)]), gcm: gcm)
    }

    private func sealBlock(_ i: Int, _ plaintext: UnsafeRawBufferPointer, gcm: AESGCM) throws {
        let n = AESGCM.nonceSize, at = (i - first) * layout.cipherBlockSize
        let dst = UnsafeMutableRawBufferPointer(rebasing: sealed[at..<(at + plaintext.count + AESGCM.overhead)])
        dst.baseAddress!.copyMemory(from: nonces.baseAddress! + (i - first) * n, byteCount: n)
        try cipher.seal(index: i, last: i == span.newFinal, plaintext: plaintext, into: dst, gcm: gcm)
    }
}
