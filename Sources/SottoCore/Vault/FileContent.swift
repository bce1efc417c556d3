#if canImport(Glibc)
import Glibc
#endif

/// Whole-file streaming encryption and decryption (import, export, cat). The mount's random-access
/// read/write builds on the same `BlockCipher`.
public enum FileContent {
    /// Blocks handled per syscall: large sequential I/O, one RAND_bytes call per batch.
    static let blocksPerBatch = 16

    public enum DecodeError: Error, Equatable {
        case invalidSize(ciphertextSize: Int)
        case header(FileHeader.ParseError)
        case block(index: Int, count: Int)

        public var description: String {
            switch self {
            case .invalidSize(let c):
                return "its size (\(c) bytes) is not one a complete file can have: it was cut short or extended"
            case .header(.tooShort): return "its header is missing"
            case .header(.unsupportedVersion(let v)): return "its header has unknown version \(v)"
            case .header(.authenticationFailed): return "its header does not authenticate"
            case .block(let i, let n):
                return "block \(i) of \(n) does not authenticate" + (i == n - 1 ? " (as the last block: the file may have been cut short)" : "")
            }
        }
    }

    /// Thrown by `encrypt` when `shouldStop` says so (the user interrupted an import).
    public struct Stopped: Error { public init() {} }

    /// Encrypts everything `source` yields into `dest` (an empty backing file); returns the
    /// plaintext byte count. `shouldStop` is asked between batches.
    ///
    /// `holes`: the vault allows hole runs (format 7 on). Whole blocks inside a hole of a regular
    /// source file (SEEK_HOLE/SEEK_DATA) are then not read or encrypted: each chunk of them gets a
    /// run's marker, the rest stays a hole in `dest`. Zeros the source stored as data stay data,
    /// and the final block is always written.
    @discardableResult
    public static func encrypt(from source: FileDescriptor, to dest: FileDescriptor, keys: VaultKeys,
                               layout: ContentLayout, holes: Bool = false, shouldStop: () -> Bool = { false }) throws -> Int {
        let gcm = try AESGCM()
        let (header, headerBytes) = try FileHeader.create(wrapKey: keys.fileKeyWrap, gcm: gcm)
        try dest.writeAll(headerBytes, at: 0)
        let cipher = BlockCipher(header: header, layout: layout)
        let B = layout.blockSize, CB = layout.cipherBlockSize, n = AESGCM.nonceSize
        let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: B * blocksPerBatch, alignment: 16)
        let sealed = UnsafeMutableRawBufferPointer.allocate(byteCount: CB * blocksPerBatch, alignment: 16)
        let nonces = UnsafeMutableRawBufferPointer.allocate(byteCount: n * blocksPerBatch, alignment: 16)
        defer {
            // Plaintext passed through these buffers: wipe before freeing.
            memsetZero(plain, plain.count); plain.deallocate(); sealed.deallocate(); nonces.deallocate()
        }
        // A sparse source is read at offsets (finding holes moves the file position).
        let sparse = try holes && EntryKind(mode: source.stat().st_mode) == .file
        var hole = 0..<0  // the next whole blocks inside a source hole (none left: Int.max..<Int.max)
        var index = 0, offset = FileHeader.size, total = 0
        while true {
            if shouldStop() { throw Stopped() }
            var want = plain.count
            if sparse {
                if index >= hole.upperBound { hole = try nextHoleBlocks(in: source, from: index, blockSize: B) }
                if hole.lowerBound == index {
                    try cipher.writeHoleRuns(hole, to: dest, gcm: gcm)
                    index = hole.upperBound
                    offset = layout.cipherOffset(ofBlock: index)
                    total += hole.count * B
                    continue
                }
                // Stop the batch where the hole starts.
                if hole.lowerBound - index < blocksPerBatch { want = (hole.lowerBound - index) * B }
            }
            let got = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: plain[0..<want]), at: sparse ? index * B : nil)
            let atEnd = got < want
            // Full blocks are never last; at the end, the remainder (possibly empty) is.
            let blocks = atEnd ? got / B + 1 : got / B
            try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: nonces[0..<(n * blocks)]))
            var out = 0
            for b in 0..<blocks {
                let len = min(B, got - b * B)
                let last = atEnd && b == blocks - 1
                let dst = UnsafeMutableRawBufferPointer(rebasing: sealed[out..<(out + len + AESGCM.overhead)])
                dst.baseAddress!.copyMemory(from: nonces.baseAddress! + b * n, byteCount: n)
                try cipher.seal(index: index, last: last, plaintext: UnsafeRawBufferPointer(rebasing: plain[(b * B)..<(b * B + len)]),
                                into: dst, gcm: gcm)
                out += len + AESGCM.overhead
                index += 1
            }
            try dest.writeAll(UnsafeRawBufferPointer(rebasing: sealed[0..<out]), at: offset)
            offset += out
            total += got
            if atEnd { break }
            #if DEBUG
            Self.pauseForTestOnce()
            #endif
        }
        return total
    }

    /// The whole blocks, from block `first` on, inside the next hole of `source` that holds any:
    /// `Int.max..<Int.max` when none is left (or the filesystem keeps no holes). The block the
    /// source's end falls in is never one of them, so the final block is always read.
    static func nextHoleBlocks(in source: FileDescriptor, from first: Int, blockSize B: Int) throws(Errno) -> Range<Int> {
        let none = Int.max..<Int.max
        var at = first * B
        while true {
            guard let start = try source.nextHole(from: at) else { return none }
            let size = Int(try source.stat().st_size)
            guard start < size else { return none }  // the end of the file, not a hole
            let end = try source.nextData(from: start) ?? size
            guard end > start else { return none }  // no hole reporting after all
            let firstWhole = (start + B - 1) / B, endWhole = min(end, size) / B
            if firstWhole < endWhole { return firstWhole..<endWhole }
            at = end
        }
    }

    #if DEBUG
    /// Tests: an import stopped (SIGSTOP) in the middle of its first file larger than a batch,
    /// so a test can interrupt it there for certain instead of racing it. SOTTO_TEST_IMPORT_PAUSE=1.
    /// Debug builds only (Rekey.swift says why a test hook here is not an `@_spi(Testing)` API).
    nonisolated(unsafe) private static var pausedForTest = false
    private static func pauseForTestOnce() {
        guard !pausedForTest, getenv("SOTTO_TEST_IMPORT_PAUSE") != nil else { return }
        pausedForTest = true
        raise(SIGSTOP)
    }
    #endif

    /// Decrypts a backing file, handing each authenticated block's plaintext to `sink` in order.
    /// Nothing of a block reaches `sink` before it authenticates; an invalid size is caught before
    /// any block is read.
    /// The file's header, unwrapped (`DecodeError.header` if it does not authenticate).
    static func readHeader(_ fd: FileDescriptor, keys: VaultKeys, gcm: AESGCM) throws -> FileHeader {
        var headerBytes = [UInt8](repeating: 0, count: FileHeader.size)
        let got = try headerBytes.withUnsafeMutableBytes { (b) throws(Errno) -> Int in try fd.read(into: b, at: 0) }
        do {
            return try headerBytes.withUnsafeBytes { try FileHeader.open(UnsafeRawBufferPointer(rebasing: $0[0..<got]), wrapKey: keys.fileKeyWrap, gcm: gcm) }
        } catch let e as FileHeader.ParseError {
            throw DecodeError.header(e)
        }
    }

    /// `holes`: the vault allows hole runs (format 7 on), so a whole block that does not open as
    /// data may read as zeros (HoleRunFinder). A run's blocks go to `holeSink` as a byte count
    /// (after the data before them has gone to `sink`) where one is given, else to `sink` as zeros.
    public static func decrypt(_ fd: FileDescriptor, keys: VaultKeys, layout: ContentLayout, holes: Bool,
                               holeSink: ((Int) throws -> Void)? = nil,
                               sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let size = Int(try fd.stat().st_size)
        guard let plainSize = layout.plaintextSize(ciphertextSize: size) else { throw DecodeError.invalidSize(ciphertextSize: size) }
        let gcm = try AESGCM()
        let header = try readHeader(fd, keys: keys, gcm: gcm)
        let cipher = BlockCipher(header: header, layout: layout)
        let count = layout.blockCount(plaintextSize: plainSize)
        let B = layout.blockSize, CB = layout.cipherBlockSize
        let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: CB * blocksPerBatch, alignment: 16)
        let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: B * blocksPerBatch, alignment: 16)
        defer { memsetZero(plain, plain.count); plain.deallocate(); stored.deallocate() }
        let finder = HoleRunFinder(fd: fd, layout: layout, cipher: cipher)
        var run: ClosedRange<Int>?  // the last run found: its other blocks need no second search
        var index = 0
        while index < count {
            let batch = min(blocksPerBatch, count - index)
            let offset = layout.cipherOffset(ofBlock: index)
            let want = min(batch * CB, size - offset)
            let n = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: stored[0..<want]), at: offset)
            guard n == want else { throw DecodeError.invalidSize(ciphertextSize: offset + n) }  // shrank while reading
            var produced = 0
            for b in 0..<batch {
                let start = b * CB
                let len = min(CB, want - start)
                let i = index + b
                let block = UnsafeRawBufferPointer(rebasing: stored[start..<(start + len)])
                // A block of the run just found, still stored as it was then, needs no second try.
                var inRun = holes && run.map({ HoleRun.stillFits(block, at: i, in: $0) }) == true
                if !inRun {
                    do {
                        produced += try cipher.open(index: i, last: i == count - 1, stored: block,
                                                    into: UnsafeMutableRawBufferPointer(rebasing: plain[produced...]), gcm: gcm)
                        continue
                    } catch CryptoError.authenticationFailed {
                        if holes {
                            run = try finder.run(containing: i, stored: block, finalIndex: count - 1, gcm: gcm)
                            inRun = run?.contains(i) == true
                        }
                    }
                }
                guard inRun else {
                    // Hand over what authenticated before this block, then fail.
                    if produced > 0 { try sink(UnsafeRawBufferPointer(rebasing: plain[0..<produced])) }
                    throw DecodeError.block(index: i, count: count)
                }
                if let holeSink {
                    if produced > 0 { try sink(UnsafeRawBufferPointer(rebasing: plain[0..<produced])) }
                    produced = 0
                    try holeSink(B)
                } else {
                    memsetZero(UnsafeMutableRawBufferPointer(rebasing: plain[produced...]), B)
                    produced += B
                }
            }
            if produced > 0 { try sink(UnsafeRawBufferPointer(rebasing: plain[0..<produced])) }
            index += batch
        }
    }
}
