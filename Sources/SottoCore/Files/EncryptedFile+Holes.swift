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
        let finalIndex = plainSize / layout.blockSize
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
        var marker = [UInt8](repeating: 0, count: HoleRun.markerSize)
        try marker.withUnsafeMutableBytes { m in
            try SecureRandom.fill(UnsafeMutableRawBufferPointer(rebasing: m[0..<AESGCM.nonceSize]))
            try cipher.sealHoleMarker(start: start, end: end, into: m, gcm: gcm)
        }
        try fd.writeAll(marker, at: layout.cipherOffset(ofBlock: end))
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
}
