#if canImport(Glibc)
import Glibc
#endif

/// Random-access plaintext view of one encrypted backing file, shared by every open handle of it
/// (and every hard link to it). Reads share a lock; writes and truncates take it alone, so a block's
/// read-modify-write is never interleaved with another writer's and neither write is lost.
public final class EncryptedFile: @unchecked Sendable {
    public struct Identity: Hashable, Sendable {
        public let device: UInt64, inode: UInt64
        public init(device: UInt64, inode: UInt64) { self.device = device; self.inode = inode }
    }

    public let identity: Identity
    /// Last path it was opened by (for log lines); not used to reach the file.
    public var backingPath: String {
        get { namesLock.withLock { _backingPath } }
        set { namesLock.withLock { _backingPath = newValue } }
    }
    /// The plaintext path it was last opened by, when the caller knows it (for log lines).
    public var plainPath: String? {
        get { namesLock.withLock { _plainPath } }
        set { namesLock.withLock { _plainPath = newValue } }
    }
    private var _backingPath: String
    private var _plainPath: String?
    private let namesLock = Mutex()
    let fd: FileDescriptor
    public let writable: Bool
    let keys: VaultKeys
    let layout: ContentLayout
    /// The file may hold hole runs (format 7 on): a block that does not open as data may be one.
    let holes: Bool
    let codecs: CodecPool
    let lock = ReadWriteLock()
    /// Open handles (guarded by the table's lock).
    var references = 0

    private var cipher: BlockCipher?
    /// The plaintext size (under the lock; `size` outside it).
    var plainSize: Int

    /// Bytes per write request handed to the codec when filling a gap with zeros.
    static let zeroChunk = 1 << 20
    nonisolated(unsafe) static let zeros: UnsafeRawBufferPointer = {
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: zeroChunk, alignment: 16)
        b.initializeMemory(as: UInt8.self, repeating: 0)
        return UnsafeRawBufferPointer(b)
    }()

    /// Told before a read of content waits for the disk (the mount's transport).
    let diskWait: any DiskWaitHint

    /// `header`: the header just written to a new file (no need to read it back).
    init(fd: FileDescriptor, writable: Bool, backingPath: String, keys: VaultKeys, layout: ContentLayout, holes: Bool = false,
         codecs: CodecPool, diskWait: any DiskWaitHint, newFileHeader header: FileHeader? = nil) throws {
        self.holes = holes
        self.diskWait = diskWait
        let st = try fd.stat()
        self.identity = Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        self.fd = fd
        self.writable = writable
        self._backingPath = backingPath
        self.keys = keys
        self.layout = layout
        self.codecs = codecs
        guard let size = layout.plaintextSize(ciphertextSize: Int(st.st_size)) else {
            throw SottoError.integrity(path: backingPath, backingPath: backingPath,
                                       detail: FileContent.DecodeError.invalidSize(ciphertextSize: Int(st.st_size)).description)
        }
        self.plainSize = size
        if let header { cipher = BlockCipher(header: header, layout: layout) }
    }

    deinit { fd.close() }

    /// Writes the header and the empty final block of a new, empty file into `fd`.
    @discardableResult
    public static func initialize(_ fd: FileDescriptor, keys: VaultKeys, layout: ContentLayout, gcm: AESGCM) throws -> FileHeader {
        let (header, headerBytes) = try FileHeader.create(wrapKey: keys.fileKeyWrap, gcm: gcm)
        var out = headerBytes + [UInt8](repeating: 0, count: AESGCM.overhead)
        try out.withUnsafeMutableBytes { o in
            let block = UnsafeMutableRawBufferPointer(rebasing: o[FileHeader.size...])
            try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: block[0..<AESGCM.nonceSize]))
            try BlockCipher(header: header, layout: layout).seal(index: 0, last: true, plaintext: UnsafeRawBufferPointer(start: nil, count: 0),
                                                                  into: block, gcm: gcm)
        }
        try fd.writeAll(out, at: 0)
        return header
    }

    public var size: Int { lock.withReadLock { plainSize } }

    /// The backing file's attributes with the plaintext size (live for a read-only state, which
    /// is never the writer; an invalid size shows as 0, as through the path).
    public func attributes() throws(Errno) -> stat {
        var st = try fd.stat()
        st.st_size = off_t(writable ? size : (layout.plaintextSize(ciphertextSize: Int(st.st_size)) ?? 0))
        return st
    }

    public func chmod(_ mode: mode_t) throws(Errno) { try retryingSyscall { fchmod(fd.rawValue, mode) } }
    public func chown(_ uid: uid_t, _ gid: gid_t) throws(Errno) { try retryingSyscall { fchown(fd.rawValue, uid, gid) } }
    public func setTimes(_ times: UnsafePointer<timespec>) throws {
        try lock.withWriteLock {
            try retryingSyscall { futimens(fd.rawValue, times) }
            try noteOwnChange()
        }
    }

    // MARK: Changes from outside (shared-storage mounts)

    /// The backing file's modification time and size as this mount last left them, when another
    /// program (a sync tool) may write the vault: anything else means the file changed under its
    /// open handles, and they fail with EIO rather than mix blocks of two versions (which would
    /// each authenticate: an edit on another device keeps the file's ID and key). Renames and
    /// links change neither value, so this mount's own renames of an open file are not mistaken.
    private var expected: (mtime: timespec, size: off_t)?

    /// Starts watching; called once, before the state is shared.
    public func watchForOutsideChanges() throws(Errno) {
        let st = try fd.stat()
        expected = (st.st_mtim, st.st_size)
    }

    private func checkUnchanged() throws {
        guard let expected else { return }
        let st = try fd.stat()
        guard st.st_mtim.tv_sec == expected.mtime.tv_sec, st.st_mtim.tv_nsec == expected.mtime.tv_nsec, st.st_size == expected.size else {
            throw damaged("changed by another program (a sync tool?) while open here; close and reopen the file to see the new version")
        }
    }

    /// After this mount's own change (under the write lock).
    private func noteOwnChange() throws(Errno) {
        guard expected != nil else { return }
        let st = try fd.stat()
        expected = (st.st_mtim, st.st_size)
    }

    func damaged(_ detail: String) -> SottoError {
        SottoError.integrity(path: plainPath ?? backingPath, backingPath: backingPath, detail: detail)
    }

    /// `prefetch`: the ciphertext the caller reads next. It is requested from the disk before the
    /// header is read, so a cold file's first read waits for one disk round trip, not two in a row
    /// (the header, then its blocks); from the first block on, header and blocks are one request.
    private func blockCipher(_ gcm: AESGCM, prefetch: Range<Int>? = nil) throws -> BlockCipher {
        if let cipher { return cipher }
        if let p = prefetch {
            let start = p.lowerBound == layout.cipherOffset(ofBlock: 0) ? 0 : p.lowerBound
            _ = posix_fadvise(fd.rawValue, off_t(start), off_t(p.upperBound - start), POSIX_FADV_WILLNEED)
        }
        var bytes = [UInt8](repeating: 0, count: FileHeader.size)
        let n = try bytes.withUnsafeMutableBytes { (b) throws(Errno) -> Int in try fd.read(into: b, at: 0, beforeWaiting: diskWait.willWaitForDisk) }
        do {
            let header = try bytes.withUnsafeBytes { try FileHeader.open(UnsafeRawBufferPointer(rebasing: $0[0..<n]), wrapKey: keys.fileKeyWrap, gcm: gcm) }
            let c = BlockCipher(header: header, layout: layout)
            cipher = c
            return c
        } catch let e as FileHeader.ParseError {
            throw damaged(FileContent.DecodeError.header(e).description)
        }
    }

    // MARK: Read

    /// Reads up to `buffer.count` plaintext bytes at `offset`; returns the count (0 at end of file).
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        try lock.withReadLock {
            try checkUnchanged()
            // A read-only state is never the writer: another state of the same file may have
            // changed its size since (a writer opened after a chmod), so ask the backing file.
            let size = writable ? plainSize : try currentBackingSize()
            guard offset < size, buffer.count > 0 else { return 0 }
            let end = min(size, offset + buffer.count)
            return try codecs.with { scratch in
                let cipher = try headerLocked(scratch.gcm, prefetch: cipherRange(offset..<end, size: size))
                try readRange(offset..<end, into: buffer, size: size, cipher: cipher, scratch: scratch)
                return end - offset
            }
        }
    }

    /// The header is loaded once; loading it mutates state, so under a read lock it is guarded.
    private let headerLock = Mutex()
    func headerLocked(_ gcm: AESGCM, prefetch: Range<Int>? = nil) throws -> BlockCipher {
        try headerLock.withLock { try blockCipher(gcm, prefetch: prefetch) }
    }

    /// The file's header (read once), for its extended attributes' keys.
    func headerForAttributes(_ gcm: AESGCM) throws -> FileHeader { try headerLocked(gcm).header }

    func currentBackingSize() throws -> Int {
        let c = Int(try fd.stat().st_size)
        guard let size = layout.plaintextSize(ciphertextSize: c) else {
            throw damaged(FileContent.DecodeError.invalidSize(ciphertextSize: c).description)
        }
        return size
    }

    /// The stored bytes of the blocks covering plaintext `range` in a file of plaintext `size`.
    private func cipherRange(_ range: Range<Int>, size: Int) -> Range<Int> {
        let B = layout.blockSize
        return layout.cipherOffset(ofBlock: range.lowerBound / B)
            ..< min(layout.cipherOffset(ofBlock: (range.upperBound - 1) / B + 1), layout.ciphertextSize(plaintextSize: size))
    }

    /// Decrypts the blocks covering `range` (within a file of plaintext `size`) into `out`, with one
    /// pread. Whole blocks decrypt straight into `out`; only partly wanted edge blocks pass through
    /// the scratch block (wiped after).
    private func readRange(_ range: Range<Int>, into out: UnsafeMutableRawBufferPointer, size: Int, cipher: BlockCipher,
                           scratch: CodecScratch) throws {
        let B = layout.blockSize, CB = layout.cipherBlockSize
        let first = range.lowerBound / B, last = (range.upperBound - 1) / B
        let finalIndex = size / B
        let stored = scratch.stored(cipherRange(range, size: size).count)
        let got = try fd.read(into: stored, at: layout.cipherOffset(ofBlock: first), beforeWaiting: diskWait.willWaitForDisk)
        guard got == stored.count else { throw damaged("the file is shorter than its size says (changed underneath?)") }
        var copied = 0
        for i in first...last {
            let s = (i - first) * CB
            let block = UnsafeRawBufferPointer(rebasing: stored[s..<min(s + CB, stored.count)])
            let blockStart = i * B
            let blockLen = block.count - AESGCM.overhead
            let from = max(range.lowerBound, blockStart) - blockStart
            let to = min(range.upperBound, blockStart + blockLen) - blockStart
            let whole = from == 0 && to == blockLen
            let target = whole ? UnsafeMutableRawBufferPointer(rebasing: out[copied..<(copied + blockLen)]) : scratch.block
            do {
                _ = try cipher.open(index: i, last: i == finalIndex, stored: block, into: target, gcm: scratch.gcm)
            } catch CryptoError.authenticationFailed {
                guard try isHole(i, stored: block, finalIndex: finalIndex, cipher: cipher, gcm: scratch.gcm) else {
                    throw damaged(FileContent.DecodeError.block(index: i, count: finalIndex + 1).description)
                }
                memsetZero(target, blockLen)
            }
            if !whole {
                (out.baseAddress! + copied).copyMemory(from: scratch.block.baseAddress! + from, byteCount: to - from)
                scratch.wipeBlock()
            }
            copied += to - from
        }
    }

    // MARK: Hole runs

    /// Runs found by reads since the last change, so a run stored as zeros (a copy made by a tool
    /// that writes holes out) is scanned for its marker once, not once per block.
    private var knownRuns: [ClosedRange<Int>] = []
    private let runsLock = Mutex()
    static let knownRunsLimit = 16

    /// Whether block `i`, which did not open as data, reads as zeros (HoleRunFinder's rule).
    private func isHole(_ i: Int, stored: UnsafeRawBufferPointer, finalIndex: Int, cipher: BlockCipher, gcm: AESGCM) throws -> Bool {
        guard holes else { return false }
        // A change empties the cache; what was read is checked against it all the same.
        if runsLock.withLock({ knownRuns.contains { HoleRun.stillFits(stored, at: i, in: $0) } }) { return true }
        guard let run = try HoleRunFinder(fd: fd, layout: layout, cipher: cipher).run(containing: i, stored: stored, finalIndex: finalIndex, gcm: gcm) else {
            return false
        }
        runsLock.withLock {
            if knownRuns.count >= Self.knownRunsLimit { knownRuns.removeFirst() }
            knownRuns.append(run)
        }
        return true
    }

    /// Forgets the runs found: called by every change (under the write lock).
    private func forgetRuns() { runsLock.withLock { knownRuns.removeAll() } }

    /// Decrypts block `i` of a file of plaintext `size` into the scratch block; returns its length.
    private func openBlock(_ i: Int, size: Int, cipher: BlockCipher, scratch: CodecScratch) throws -> Int {
        let B = layout.blockSize
        let len = min(B, size - i * B)
        guard len > 0 else { return 0 }
        try readRange((i * B)..<(i * B + len), into: scratch.block, size: size, cipher: cipher, scratch: scratch)
        return len
    }

    // MARK: Write

    /// Writes `data` at `offset`. A gap past the end is first filled with encrypted zeros, so it
    /// reads back as zeros and still authenticates.
    public func write(_ data: UnsafeRawBufferPointer, at offset: Int) throws {
        guard writable else { throw Errno(EBADF) }
        guard data.count > 0 else { return }
        guard offset >= 0 else { throw Errno.invalid }
        guard offset <= layout.maxPlaintextSize - data.count else { throw Errno(EFBIG) }
        try change { cipher, scratch in
            if offset > plainSize { try grow(to: offset, cipher: cipher, scratch: scratch) }
            try writeRange(data, at: offset, cipher: cipher, scratch: scratch)
        }
    }

    /// Every change runs here: under the write lock, refused if another program changed the file
    /// (shared mounts), with the runs found by reads forgotten and the file's new state noted.
    private func change(_ body: (BlockCipher, CodecScratch) throws -> Void) throws {
        try lock.withWriteLock {
            try checkUnchanged()
            defer { try? noteOwnChange() }
            forgetRuns()
            try codecs.with { scratch in try body(try headerLocked(scratch.gcm), scratch) }
        }
    }

    /// Sets the plaintext size: grows with zeros, or shrinks, resealing the new final block.
    public func truncate(to newSize: Int) throws {
        guard writable else { throw Errno(EBADF) }
        guard newSize >= 0 else { throw Errno.invalid }
        try change { cipher, scratch in
            if newSize > plainSize {
                try grow(to: newSize, cipher: cipher, scratch: scratch)
            } else if newSize < plainSize {
                try shrink(to: newSize, cipher: cipher, scratch: scratch)
            }
        }
    }

    /// fallocate(2) of plaintext `offset..<offset+length`. Mode 0 (`posix_fallocate`): the file
    /// grows to cover it; within the current size every block is already stored, so nothing
    /// else happens. `keepSize`: the space past the end is only reserved, the size unchanged.
    /// `zeroing` (FALLOC_FL_ZERO_RANGE): the range reads as zeros afterwards; inside the file its
    /// blocks are rewritten with encrypted zeros, or, where the vault allows holes, its whole
    /// blocks become a hole run (`zero`).
    public func allocate(offset: Int, length: Int, keepSize: Bool, zeroing: Bool = false) throws {
        guard writable else { throw Errno(EBADF) }
        guard offset >= 0, length > 0 else { throw Errno.invalid }
        guard offset <= layout.maxPlaintextSize - length else { throw Errno(EFBIG) }
        let end = offset + length
        try change { cipher, scratch in
            guard zeroing || end > plainSize || (holes && !keepSize) else { return }
            if zeroing, offset < plainSize { try zero(offset..<min(end, plainSize), cipher: cipher, scratch: scratch) }
            let have = layout.ciphertextSize(plaintextSize: plainSize)
            let growth = end > plainSize ? layout.ciphertextSize(plaintextSize: end) - have : 0
            // Allocating means later writes there cannot fail for space: the growth is reserved
            // first, then runs inside the file get theirs (all given back if the disk runs out),
            // then the file grows, by hole runs over reserved space.
            try fd.reserve(offset: have, length: growth)
            if holes, !zeroing, !keepSize, offset < plainSize {
                do {
                    try allocateRuns(in: (offset / layout.blockSize)..<((min(end, plainSize) - 1) / layout.blockSize + 1),
                                     cipher: cipher, gcm: scratch.gcm)
                } catch {
                    fd.releaseReserved(offset: have, length: growth)
                    throw error
                }
            }
            if growth > 0, !keepSize { try grow(to: end, reserving: true, cipher: cipher, scratch: scratch) }
        }
    }

    /// fallocate(FALLOC_FL_PUNCH_HOLE): plaintext `offset..<offset+length` reads as zeros after,
    /// the size unchanged, and the whole blocks in it become a hole run that frees their disk
    /// (docs/sparse-files.md). Only in vaults that allow holes (EOPNOTSUPP otherwise: nothing
    /// could be freed, and a caller punching to free space should know).
    public func punchHole(offset: Int, length: Int) throws {
        guard writable else { throw Errno(EBADF) }
        guard offset >= 0, length > 0 else { throw Errno.invalid }
        guard holes else { throw Errno(EOPNOTSUPP) }
        try change { cipher, scratch in
            let end = offset > plainSize - length ? plainSize : offset + length
            guard offset < end else { return }
            try zero(offset..<end, cipher: cipher, scratch: scratch)
        }
    }

    /// Makes `range` (within the file) read as zeros: with holes, its whole blocks before the
    /// final one become a run and only the edges are rewritten; without, sealed zeros throughout.
    private func zero(_ range: Range<Int>, cipher: BlockCipher, scratch: CodecScratch) throws {
        let B = layout.blockSize
        let wholeFrom = (range.lowerBound + B - 1) / B, wholeTo = min(range.upperBound / B, plainSize / B)  // [from, to)
        func fill(_ r: Range<Int>) throws {
            var at = r.lowerBound
            while at < r.upperBound {
                let n = min(Self.zeroChunk, r.upperBound - at)
                try writeRange(UnsafeRawBufferPointer(rebasing: Self.zeros[0..<n]), at: at, cipher: cipher, scratch: scratch)
                at += n
            }
        }
        guard holes, wholeFrom < wholeTo else { return try fill(range) }
        try fill(range.lowerBound..<(wholeFrom * B))
        try makeHole(wholeFrom...(wholeTo - 1), cipher: cipher, gcm: scratch.gcm)
        try fill((wholeTo * B)..<range.upperBound)
    }

    public func sync(dataOnly: Bool) throws(Errno) {
        if dataOnly { try retryingSyscall { fdatasync(fd.rawValue) } } else { try fd.sync() }
    }

    /// Grows the file to `newSize` with zeros. Where the vault allows holes, whole blocks of
    /// zeros are a hole run (no disk) and only `reserving` (fallocate) takes their space.
    /// Otherwise they are sealed, and the whole new ciphertext gets its disk space first, so a
    /// grow the disk cannot hold (a `truncate -s 10T`, a preallocation) fails at once with ENOSPC
    /// or EFBIG, having written nothing, instead of filling the disk block by block. If the fill
    /// fails anyway, the file is put back to its old size.
    private func grow(to newSize: Int, reserving: Bool = false, cipher: BlockCipher, scratch: CodecScratch) throws {
        guard newSize <= layout.maxPlaintextSize else { throw Errno(EFBIG) }
        let oldSize = plainSize
        let have = layout.ciphertextSize(plaintextSize: oldSize)
        let need = layout.ciphertextSize(plaintextSize: newSize)
        if holes {
            if reserving { try fd.reserve(offset: have, length: need - have) }
            do {
                if try growWithHoles(to: newSize, cipher: cipher, scratch: scratch) { return }
            } catch {
                if reserving { fd.releaseReserved(offset: have, length: need - have) }
                throw error
            }
        }
        if !(holes && reserving) { try fd.reserve(offset: have, length: need - have) }
        do {
            try fillZeros(upTo: newSize, cipher: cipher, scratch: scratch)
        } catch {
            if plainSize > oldSize { try? shrink(to: oldSize, cipher: cipher, scratch: scratch) }
            fd.releaseReserved(offset: have, length: need - have)
            throw error
        }
    }

    /// Grows by hole runs where whole blocks of zeros are added: the final block is filled out,
    /// the file extended (the new blocks read as zeros), the first new block's bytes cleared
    /// (it was the empty final block), each chunk's run closed by its marker, and the new final
    /// block written last. Disk is taken only for what is written, so no reservation. False when
    /// no whole block is added (the caller fills with sealed zeros).
    private func growWithHoles(to newSize: Int, cipher: BlockCipher, scratch: CodecScratch) throws -> Bool {
        let B = layout.blockSize
        let oldSize = plainSize
        let runStart = oldSize % B == 0 ? oldSize / B : oldSize / B + 1
        let newFinal = newSize / B
        guard runStart < newFinal else { return false }
        // The new size goes first: past the filesystem's largest file that is EFBIG, with nothing
        // written. Each chunk's marker then takes a filesystem block: refused at once when the
        // disk cannot hold them all (a `truncate -s 900T` on tmpfs), the size put back.
        try fd.truncate(to: layout.ciphertextSize(plaintextSize: newSize))
        let chunks = (newFinal - 1) / HoleRun.chunkBlocks - runStart / HoleRun.chunkBlocks + 1
        do {
            try fd.ensureFree(chunks * Self.filesystemBlock)
        } catch {
            try? fd.truncate(to: layout.ciphertextSize(plaintextSize: oldSize))
            throw error
        }
        do {
            if oldSize % B != 0 { try fillZeros(upTo: runStart * B, cipher: cipher, scratch: scratch) }
            try fd.writeAll(UnsafeRawBufferPointer(rebasing: Self.zeros[0..<AESGCM.overhead]), at: layout.cipherOffset(ofBlock: runStart))
            var a = runStart
            while a < newFinal {
                let b = min(newFinal - 1, HoleRun.chunk(of: a).upperBound - 1)
                try writeMarker(start: a, end: b, cipher: cipher, gcm: scratch.gcm)
                a = b + 1
            }
            try sealFinalBlock(newFinal, length: newSize - newFinal * B, cipher: cipher, scratch: scratch)
            plainSize = newSize
        } catch {
            try? shrink(to: oldSize, cipher: cipher, scratch: scratch)  // also cuts what ftruncate added
            throw error
        }
        return true
    }

    /// What one marker costs on disk, at most (ext4's and most filesystems' block).
    static let filesystemBlock = 4096

    /// Seals block `index` as the final block holding `length` zeros, and writes it.
    private func sealFinalBlock(_ index: Int, length: Int, cipher: BlockCipher, scratch: CodecScratch) throws {
        let sealed = scratch.sealed(length + AESGCM.overhead)
        try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: sealed[0..<AESGCM.nonceSize]))
        try cipher.seal(index: index, last: true, plaintext: UnsafeRawBufferPointer(rebasing: Self.zeros[0..<length]), into: sealed,
                        gcm: scratch.gcm)
        try fd.writeAll(UnsafeRawBufferPointer(sealed), at: layout.cipherOffset(ofBlock: index))
    }

    private func fillZeros(upTo end: Int, cipher: BlockCipher, scratch: CodecScratch) throws {
        while plainSize < end {
            let n = min(Self.zeroChunk, end - plainSize)
            try writeRange(UnsafeRawBufferPointer(rebasing: Self.zeros[0..<n]), at: plainSize, cipher: cipher, scratch: scratch)
        }
    }

    /// The core of every write: `offset` ≤ size. Reseals the blocks from the first touched one to
    /// the new final block and writes them with one pwrite. Blocks the data covers whole are sealed
    /// straight from `data`; only edge blocks whose old bytes survive are read back and merged.
    private func writeRange(_ data: UnsafeRawBufferPointer, at offset: Int, cipher: BlockCipher, scratch: CodecScratch) throws {
        let span = WriteSpan(layout: layout, offset: offset, count: data.count, oldSize: plainSize)
        let oldSize = plainSize, first = span.first, lastWritten = span.last, count = span.blocks.count
        let total = span.cipherLength
        let sealed = scratch.sealed(total)
        let nonces = scratch.nonces(count * AESGCM.nonceSize)
        try SecureRandom.fill(nonces)
        let plan = WritePlan(data: data, span: span, sealed: sealed, nonces: UnsafeRawBufferPointer(nonces), cipher: cipher, layout: layout)
        // The edge blocks may merge old bytes (a read through the scratch block); the blocks
        // between are sealed straight from `data`, on several cores when there are many.
        // The edge blocks: those whose old bytes survive are read here, into the scratch block,
        // and handed to the plan to merge (the plan does no I/O).
        for i in (count > 1 ? [first, lastWritten] : [first]) {
            if span.keepsOldBytes(ofBlock: i) { _ = try openBlock(i, size: oldSize, cipher: cipher, scratch: scratch) }
            try plan.seal(i, scratch: scratch)
        }
        if count > 2 { try plan.sealWhole((first + 1)..<lastWritten, scratch: scratch, codecs: codecs) }
        scratch.wipeBlock()
        // Appends (from the final block on) never touch a run; a write before may cut one, whose
        // parts get their markers now: after the edge blocks were read (a hole reads through its
        // marker), before the data lands (a marker never covers data).
        if holes, first < span.oldFinal {
            try splitRuns(aroundBlocks: first, min(lastWritten, span.oldFinal - 1), cipher: cipher, gcm: scratch.gcm)
        }
        let at = span.cipherOffset
        if let split = span.newBlocksFrom {
            // Growing: write the new blocks first. If the disk is full, cut them off again and the
            // file keeps its old content, intact; only then rewrite the blocks it already had.
            do {
                try fd.writeAll(UnsafeRawBufferPointer(rebasing: sealed[split..<total]), at: at + split)
            } catch {
                try? fd.truncate(to: layout.ciphertextSize(plaintextSize: oldSize))
                throw error
            }
            try fd.writeAll(UnsafeRawBufferPointer(rebasing: sealed[0..<split]), at: at)
        } else {
            try fd.writeAll(UnsafeRawBufferPointer(rebasing: sealed[0..<total]), at: at)
        }
        plainSize = span.newSize
        writeBehind(offset: offset, end: span.end)
    }

    // MARK: Write-behind

    /// A file written front to back (a recording, a copy, `dd`) has its ciphertext sent to disk
    /// in chunks of this size as it goes, rather than all at the final fsync: the disk writes
    /// while the next chunks are encrypted. Only for sequential writes; a file rewritten in place
    /// (a database) is left to the kernel, as its pages may change again soon.
    static let writeBehindChunk = 8 << 20
    /// Where the last write ended (plaintext), and the ciphertext offset up to which writeback
    /// has been started; both under the write lock.
    private var sequentialEnd: Int?
    private var writebackStarted = 0

    private func writeBehind(offset: Int, end: Int) {
        // Only whole blocks: the final block is rewritten by the next append.
        let done = layout.cipherOffset(ofBlock: end / layout.blockSize)
        defer { sequentialEnd = end }
        guard offset == sequentialEnd else {
            writebackStarted = done
            return
        }
        if done - writebackStarted >= Self.writeBehindChunk {
            fd.startWriteback(offset: writebackStarted, length: done - writebackStarted)
            writebackStarted = done
        }
    }

    private func shrink(to newSize: Int, cipher: BlockCipher, scratch: CodecScratch) throws {
        let B = layout.blockSize
        let final = newSize / B
        let len = newSize - final * B
        // The new final block inside a run: the run's part before it gets its own marker first.
        if let run = try runContaining(final, cipher: cipher, gcm: scratch.gcm), run.lowerBound < final {
            try writeMarker(start: run.lowerBound, end: final - 1, cipher: cipher, gcm: scratch.gcm)
        }
        if len > 0 { _ = try openBlock(final, size: plainSize, cipher: cipher, scratch: scratch) }
        let sealed = scratch.sealed(len + AESGCM.overhead)
        try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: sealed[0..<AESGCM.nonceSize]))
        try cipher.seal(index: final, last: true, plaintext: UnsafeRawBufferPointer(rebasing: scratch.block[0..<len]), into: sealed,
                        gcm: scratch.gcm)
        scratch.wipeBlock()
        let at = layout.cipherOffset(ofBlock: final)
        try fd.writeAll(UnsafeRawBufferPointer(sealed), at: at)
        try fd.truncate(to: at + sealed.count)
        plainSize = newSize
    }
}
