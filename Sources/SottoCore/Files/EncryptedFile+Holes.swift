#if canImport(Glibc)
import Glibc
#endif

// Keeping hole runs true as a file changes (docs/sparse-files.md, "Writing"). Every step is
// ordered so that a marker never covers a block that holds data: a crash between steps leaves
// the old content, the new content, or a block that reads as EIO until rewritten — as a torn
// block write does — never a zeroed block that reads as zeros. All of it runs under the write
// lock, and only in vaults that allow holes.
//
// Runs never overlap: every block of a run but its last is zeros and no other marker lies inside
// it. A run's extent is read from its marker, so a marker left claiming blocks that another run
// now holds would make the next split write a wrong marker over a good one.

extension EncryptedFile {
    /// The run holding block `i` (a whole block before the final one), or nil if it holds data.
    func runContaining(_ i: Int, cipher: BlockCipher, gcm: AESGCM) throws -> ClosedRange<Int>? {
        try runContaining(i, finalIndex: plainSize / layout.blockSize, cipher: cipher, gcm: gcm)
    }

    func runContaining(_ i: Int, finalIndex: Int, cipher: BlockCipher, gcm: AESGCM) throws -> ClosedRange<Int>? {
        guard holes, i < finalIndex else { return nil }
        let CB = layout.cipherBlockSize
        let at = layout.cipherOffset(ofBlock: i)
        // A data block shows itself in its first bytes (ciphertext where a marker has zeros).
        var head = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let headRead = try withUnsafeMutableBytes(of: &head) { (h) throws(Errno) -> Bool in
            try fd.read(into: h, at: at) == h.count && !HoleRun.isZero(UnsafeRawBufferPointer(rebasing: h[HoleRun.markerSize...]))
        }
        if headRead { return nil }
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: CB, alignment: 16)
        defer { block.deallocate() }
        guard try fd.read(into: block, at: at) == CB else { return nil }
        return try HoleRunFinder(fd: fd, layout: layout, cipher: cipher)
            .run(containing: i, stored: UnsafeRawBufferPointer(block), finalIndex: finalIndex, gcm: gcm)
    }

    /// Writes the marker of run [start, end] into block `end`, whose bytes past the marker are zeros.
    func writeMarker(start: Int, end: Int, cipher: BlockCipher, gcm: AESGCM) throws {
        try cipher.writeHoleMarker(start: start, end: end, to: fd, gcm: gcm)
    }

    /// Before blocks `first...last` (all existing, none final) are written as data: a run they cut
    /// keeps its parts outside them, each closed by its own marker — the left part's written into
    /// block `first - 1`, then the right part's rewritten in its last block.
    func splitRuns(aroundBlocks first: Int, _ last: Int, cipher: BlockCipher, gcm: AESGCM) throws {
        let left = try runContaining(first, cipher: cipher, gcm: gcm)
        let right = last == first ? left : try runContaining(last, cipher: cipher, gcm: gcm)
        if let left, left.lowerBound < first { try writeMarker(start: left.lowerBound, end: first - 1, cipher: cipher, gcm: gcm) }
        if let right, right.upperBound > last { try writeMarker(start: last + 1, end: right.upperBound, cipher: cipher, gcm: gcm) }
    }

    /// Makes whole blocks `blocks` (none final) a hole: per chunk, a run closed by its marker.
    /// Their data is zeroed first (the blocks read as EIO until the marker is there: never a
    /// marker over data), then the marker is written. A run that began inside and goes on past
    /// them is then told where it begins now.
    func makeHole(_ blocks: ClosedRange<Int>, cipher: BlockCipher, gcm: AESGCM) throws {
        var a = blocks.lowerBound
        while a <= blocks.upperBound {
            let b = min(blocks.upperBound, HoleRun.chunk(of: a).upperBound - 1)
            defer { a = b + 1 }
            let existing = try runContaining(a, cipher: cipher, gcm: gcm)
            if let existing, existing.upperBound >= b { continue }  // already a hole
            if let existing, existing.lowerBound < a {
                try writeMarker(start: existing.lowerBound, end: a - 1, cipher: cipher, gcm: gcm)
            }
            let from = layout.cipherOffset(ofBlock: a), to = layout.cipherOffset(ofBlock: b + 1)
            try fd.punchHole(offset: from, length: to - from)
            try writeMarker(start: a, end: b, cipher: cipher, gcm: gcm)
            if b + 1 < HoleRun.chunk(of: b).upperBound, let next = try runContaining(b + 1, cipher: cipher, gcm: gcm),
               next.lowerBound <= b {
                try writeMarker(start: b + 1, end: next.upperBound, cipher: cipher, gcm: gcm)
            }
        }
    }

    /// The run holding block `from`, else the first after it that the backing file stores as a
    /// hole, up to block `before`: data is stepped over with the backing file's SEEK_HOLE, so a
    /// run stored as zeros (by a copy) is passed over as data.
    func nextSparseRun(from: Int, before end: Int, finalIndex: Int, cipher: BlockCipher, gcm: AESGCM) throws -> ClosedRange<Int>? {
        var i = from
        while i < end {
            if let run = try runContaining(i, finalIndex: finalIndex, cipher: cipher, gcm: gcm) { return run }
            // nil: no hole reported (POSIX lets a hole be reported as data); an I/O error throws.
            guard let hole = try fd.nextHole(from: layout.cipherOffset(ofBlock: i + 1)) else { return nil }
            i = max(i + 1, (hole - FileHeader.size) / layout.cipherBlockSize)
        }
        return nil
    }

    /// The runs among `blocks` that the backing file stores as a hole; a run stored as zeros
    /// already has its disk space.
    func sparseRuns(in blocks: Range<Int>, cipher: BlockCipher, gcm: AESGCM) throws -> [ClosedRange<Int>] {
        var runs: [ClosedRange<Int>] = []
        let finalIndex = plainSize / layout.blockSize
        var i = blocks.lowerBound
        while let run = try nextSparseRun(from: i, before: blocks.upperBound, finalIndex: finalIndex, cipher: cipher, gcm: gcm) {
            runs.append(run)
            i = run.upperBound + 1
        }
        return runs
    }

    /// fallocate mode 0 inside the file: every run among `blocks` stored as a hole gets its disk
    /// space (it still reads as zeros), so later writes there cannot fail for space. If the disk
    /// runs out, what this call allocated is punched out again (those bytes are zeros; markers
    /// are left alone), and ENOSPC is thrown.
    func allocateRuns(in blocks: Range<Int>, cipher: BlockCipher, gcm: AESGCM) throws {
        var done: [Range<Int>] = []
        do {
            for run in try sparseRuns(in: blocks, cipher: cipher, gcm: gcm) {
                let range = layout.cipherOffset(ofBlock: run.lowerBound)..<layout.cipherOffset(ofBlock: run.upperBound)
                guard !range.isEmpty else { continue }
                guard try fd.allocate(offset: range.lowerBound, length: range.count) else { return }
                done.append(range)
            }
        } catch {
            for range in done { try? fd.punchHole(offset: range.lowerBound, length: range.count) }
            throw error
        }
    }

    /// lseek(SEEK_DATA / SEEK_HOLE) in plaintext (`data` true: SEEK_DATA): runs are holes, and so
    /// is the end of the file. ENXIO at or past the end, and for SEEK_DATA with only holes after.
    /// Runs are found through the backing file's own holes, so a run a copy stored as zeros
    /// reports as data (allowed: a hole may always be reported as data).
    public func seek(from offset: Int, data: Bool) throws -> Int {
        try lock.withReadLock {
            let size = writable ? plainSize : try currentBackingSize()
            guard offset >= 0, offset < size else { throw Errno(ENXIO) }
            guard holes else { return data ? offset : size }
            return try codecs.with { scratch in
                let cipher = try headerLocked(scratch.gcm)
                let B = layout.blockSize, finalIndex = size / B
                var i = offset / B
                while i < finalIndex {
                    if data {
                        guard let run = try runContaining(i, finalIndex: finalIndex, cipher: cipher, gcm: scratch.gcm) else {
                            return max(offset, i * B)
                        }
                        i = run.upperBound + 1
                    } else {
                        let run = try nextSparseRun(from: i, before: finalIndex, finalIndex: finalIndex, cipher: cipher, gcm: scratch.gcm)
                        return run.map { max(offset, $0.lowerBound * B) } ?? size
                    }
                }
                // The final block is data (when it holds any bytes); past it, the end's hole.
                if data { guard size > finalIndex * B else { throw Errno(ENXIO) }; return max(offset, finalIndex * B) }
                return size
            }
        }
    }
}
