/// Sealed hole runs (docs/sparse-files.md): whole blocks of zeros that cost no disk, and still
/// cannot be forged by zeroing a block.
///
/// Blocks are grouped in aligned chunks of `chunkBlocks`. A run is a range [start, end] of whole
/// blocks within one chunk, never the final block, that read as zeros. Its last block holds the
/// marker `nonce(12) || start (u64) || tag(16)`, zeros after it; the other blocks are zeros on disk
/// (punched where the filesystem can). The tag is AES-256-GCM over an empty plaintext with
/// AAD = fileID || end (u64) || 0 || 2 || start (u64): bound to the file, its position and the
/// run's start, and never equal to a data block's 25-byte AAD.
public enum HoleRun {
    /// Blocks per chunk: a run never crosses a chunk boundary, so finding a run's marker reads at
    /// most one chunk (16 MiB at 16 KiB blocks) when a copy stored the run as zeros.
    public static let chunkBlocks = 1024
    public static let markerSize = AESGCM.nonceSize + 8 + AESGCM.tagSize
    static let aadSize = FileHeader.fileIDSize + 8 + 2 + 8
    static let kind: UInt8 = 2

    /// The chunk holding block `i`, as a range of block indices.
    public static func chunk(of i: Int) -> Range<Int> {
        let start = i / chunkBlocks * chunkBlocks
        return start..<(start + chunkBlocks)
    }

    /// What a stored (whole, not final) block is, from its bytes alone.
    public enum StoredKind: Equatable {
        /// Every byte zero: inside a run (or damage, if no marker covers it).
        case zeros
        /// A marker's shape: something in the first 36 bytes, zeros after.
        case marker
        /// Anything else: a data block.
        case data
    }

    public static func kind(of stored: UnsafeRawBufferPointer) -> StoredKind {
        if isZero(UnsafeRawBufferPointer(rebasing: stored[markerSize...])) {
            return isZero(UnsafeRawBufferPointer(rebasing: stored[0..<markerSize])) ? .zeros : .marker
        }
        return .data
    }

    /// Whether block `i`, stored as `stored`, still looks as it did when `run` (which holds `i`)
    /// was found: zeros, or the run's marker in its last block. A run once authenticated then
    /// needs no second search for each of its blocks.
    static func stillFits(_ stored: UnsafeRawBufferPointer, at i: Int, in run: ClosedRange<Int>) -> Bool {
        guard run.contains(i) else { return false }
        switch kind(of: stored) {
        case .zeros: return i < run.upperBound
        case .marker: return i == run.upperBound
        case .data: return false
        }
    }

    static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        // Word-wise: a run's check reads up to a chunk of blocks.
        var i = 0, n = bytes.count
        let base = bytes.baseAddress!
        while n - i >= 8 {
            if base.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < n { if base.load(fromByteOffset: i, as: UInt8.self) != 0 { return false }; i += 1 }
        return true
    }
}

extension BlockCipher {
    @inline(__always)
    private func withHoleAAD<R>(start: Int, end: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var aad = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))  // 40 bytes of stack, 34 used
        return try withUnsafeMutableBytes(of: &aad) { a in
            header.fileID.withUnsafeBytes { a.copyMemory(from: $0) }
            let id = FileHeader.fileIDSize
            a.storeBytes(of: UInt64(end).bigEndian, toByteOffset: id, as: UInt64.self)
            a[id + 8] = 0  // never the final block
            a[id + 9] = HoleRun.kind
            a.storeBytes(of: UInt64(start).bigEndian, toByteOffset: id + 10, as: UInt64.self)
            return try body(UnsafeRawBufferPointer(rebasing: a[0..<HoleRun.aadSize]))
        }
    }

    /// Writes the marker of run [start, end] into `out` (`HoleRun.markerSize` bytes), whose first
    /// 12 bytes already hold a fresh random nonce.
    public func sealHoleMarker(start: Int, end: Int, into out: UnsafeMutableRawBufferPointer, gcm: AESGCM) throws {
        precondition(out.count == HoleRun.markerSize && start <= end && HoleRun.chunk(of: end).contains(start))
        let n = AESGCM.nonceSize
        out.storeBytes(of: UInt64(start).bigEndian, toByteOffset: n, as: UInt64.self)
        try withHoleAAD(start: start, end: end) { aad in
            try header.fileKey.withUnsafeBytes { k in
                try gcm.seal(key: k, nonce: UnsafeRawBufferPointer(rebasing: out[0..<n]), aad: aad,
                             plaintext: UnsafeRawBufferPointer(start: nil, count: 0),
                             ciphertext: UnsafeMutableRawBufferPointer(start: nil, count: 0),
                             tag: UnsafeMutableRawBufferPointer(rebasing: out[(n + 8)...]))
            }
        }
    }

    /// Seals the marker of run [start, end] with a fresh nonce and writes it at the start of
    /// block `end` in backing file `fd`; the rest of that block and the run's other blocks are
    /// left as they are (zeros: holes, or zeroed by the caller).
    public func writeHoleMarker(start: Int, end: Int, to fd: FileDescriptor, gcm: AESGCM) throws {
        var marker = [UInt8](repeating: 0, count: HoleRun.markerSize)
        try marker.withUnsafeMutableBytes { m in
            try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: m[0..<AESGCM.nonceSize]))
            try sealHoleMarker(start: start, end: end, into: m, gcm: gcm)
        }
        try fd.writeAll(marker, at: layout.cipherOffset(ofBlock: end))
    }

    /// Makes whole blocks `blocks` (none final) of a backing file a hole by writing, per chunk,
    /// the marker of the run that covers its part: what an import writes for a source's hole.
    public func writeHoleRuns(_ blocks: Range<Int>, to fd: FileDescriptor, gcm: AESGCM) throws {
        var start = blocks.lowerBound
        while start < blocks.upperBound {
            let end = min(HoleRun.chunk(of: start).upperBound, blocks.upperBound) - 1
            try writeHoleMarker(start: start, end: end, to: fd, gcm: gcm)
            start = end + 1
        }
    }

    /// The start of the run whose marker is in block `end`, if `marker` (its first
    /// `HoleRun.markerSize` bytes) is one this file sealed there; nil otherwise.
    public func openHoleMarker(at end: Int, _ marker: UnsafeRawBufferPointer, gcm: AESGCM) throws -> Int? {
        guard marker.count >= HoleRun.markerSize else { return nil }
        let n = AESGCM.nonceSize
        let raw = UInt64(bigEndian: marker.loadUnaligned(fromByteOffset: n, as: UInt64.self))
        let chunk = HoleRun.chunk(of: end)
        guard raw <= UInt64(end), chunk.contains(Int(raw)) else { return nil }
        let start = Int(raw)
        do {
            try withHoleAAD(start: start, end: end) { aad in
                try header.fileKey.withUnsafeBytes { k in
                    try gcm.open(key: k, nonce: UnsafeRawBufferPointer(rebasing: marker[0..<n]), aad: aad,
                                 ciphertext: UnsafeRawBufferPointer(start: nil, count: 0),
                                 tag: UnsafeRawBufferPointer(rebasing: marker[(n + 8)..<HoleRun.markerSize]),
                                 plaintext: UnsafeMutableRawBufferPointer(start: nil, count: 0))
                }
            }
        } catch CryptoError.authenticationFailed {
            return nil
        }
        return start
    }
}

/// Finds the runs of one file (reading rule, docs/sparse-files.md): block i reads as zeros if it
/// is a run's marker block, or if it is all zeros and the first block after it in its chunk that is
/// not all zeros is the marker of a run that covers it. Anything else that fails to open is damage.
struct HoleRunFinder {
    let fd: FileDescriptor
    let layout: ContentLayout
    let cipher: BlockCipher

    /// Blocks read at a time while looking for a run's marker in a copy that stored it as zeros.
    static let scanBatch = 64

    /// The run block `i` belongs to, given its stored bytes (a whole block that failed to open as
    /// data), in a file whose final block is `finalIndex`; nil if none covers it.
    func run(containing i: Int, stored: UnsafeRawBufferPointer, finalIndex: Int, gcm: AESGCM) throws -> ClosedRange<Int>? {
        guard i < finalIndex, stored.count == layout.cipherBlockSize else { return nil }
        switch HoleRun.kind(of: stored) {
        case .data: return nil
        case .marker:
            guard let start = try cipher.openHoleMarker(at: i, stored, gcm: gcm) else { return nil }
            return start...i
        case .zeros:
            return try markerAfter(i, finalIndex: finalIndex, gcm: gcm)
        }
    }

    /// The run covering zero block `i`: the first block after it in its chunk (and before the
    /// final block) that is not zeros must be a marker whose run starts at or before `i`.
    private func markerAfter(_ i: Int, finalIndex: Int, gcm: AESGCM) throws -> ClosedRange<Int>? {
        let CB = layout.cipherBlockSize
        let limit = min(HoleRun.chunk(of: i).upperBound, finalIndex)
        var j = i + 1
        // Where the filesystem knows the zeros are a hole, skip them without reading.
        if j < limit, let data = try fd.nextData(from: layout.cipherOffset(ofBlock: j)) {
            j = max(j, (data - FileHeader.size) / CB)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: CB * Self.scanBatch, alignment: 16)
        defer { buffer.deallocate() }
        while j < limit {
            let count = min(Self.scanBatch, limit - j)
            let want = count * CB
            guard try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: layout.cipherOffset(ofBlock: j)) == want else {
                return nil
            }
            for b in 0..<count {
                let block = UnsafeRawBufferPointer(rebasing: buffer[(b * CB)..<((b + 1) * CB)])
                switch HoleRun.kind(of: block) {
                case .zeros: continue
                case .data: return nil
                case .marker:
                    guard let start = try cipher.openHoleMarker(at: j + b, block, gcm: gcm), start <= i else { return nil }
                    return start...(j + b)
                }
            }
            j += count
        }
        return nil
    }
}
