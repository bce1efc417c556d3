/// Sizes and offsets of an encrypted file's content (format v1).
///
/// After the header come blocks of `blockSize` plaintext bytes, each stored as
/// `nonce(12) || ciphertext || tag(16)`. The last block is always short (0 ≤ n < blockSize), so a
/// file whose size is a multiple of the block size ends with an empty block. Every file therefore
/// has at least one block, and the last one is sealed with the "last" flag: cutting a file at any
/// block boundary leaves a final block that was sealed as not-last, or a size no valid file has.
public struct ContentLayout: Sendable, Equatable {
    public static let allowedBlockSizes: [Int] = [4096, 8192, 16384, 32768, 65536]

    public let blockSize: Int
    public var cipherBlockSize: Int { blockSize + AESGCM.overhead }

    public init(blockSize: Int) {
        precondition(Self.allowedBlockSizes.contains(blockSize))
        self.blockSize = blockSize
    }

    public func blockCount(plaintextSize p: Int) -> Int { p / blockSize + 1 }

    public func ciphertextSize(plaintextSize p: Int) -> Int {
        FileHeader.size + p + blockCount(plaintextSize: p) * AESGCM.overhead
    }

    /// The plaintext size of a file of `c` ciphertext bytes, from its size alone (no read);
    /// nil when no valid file has that size (truncated or padded).
    public func plaintextSize(ciphertextSize c: Int) -> Int? {
        let body = c - FileHeader.size
        guard body >= AESGCM.overhead else { return nil }
        let full = body / cipherBlockSize
        let lastCipher = body - full * cipherBlockSize
        guard lastCipher >= AESGCM.overhead else { return nil }
        return full * blockSize + (lastCipher - AESGCM.overhead)
    }

    public func cipherOffset(ofBlock i: Int) -> Int { FileHeader.size + i * cipherBlockSize }

    /// The largest plaintext size whose ciphertext size fits in `off_t`: past it a file cannot
    /// grow (EFBIG), whatever the backing filesystem allows. Checked before `ciphertextSize` is
    /// computed, which would overflow.
    public var maxPlaintextSize: Int {
        let body = Int.max - FileHeader.size
        let full = body / cipherBlockSize, rest = body - full * cipherBlockSize
        // A final block is shorter than a whole one: with no room for one after `full` whole
        // blocks, the last of them becomes the final block, one byte short.
        return rest >= AESGCM.overhead ? full * blockSize + (rest - AESGCM.overhead) : full * blockSize - 1
    }
}

/// Seals and opens the blocks of one file. AAD = file ID (16) || block index (u64 BE) || last (u8).
public struct BlockCipher {
    public static let aadSize = FileHeader.fileIDSize + 8 + 1
    public let header: FileHeader
    public let layout: ContentLayout

    public init(header: FileHeader, layout: ContentLayout) {
        self.header = header
        self.layout = layout
    }

    @inline(__always)
    private func withAAD<R>(index: Int, last: Bool, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var aad = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))  // 32 bytes of stack, 25 used
        return try withUnsafeMutableBytes(of: &aad) { a in
            header.fileID.withUnsafeBytes { a.copyMemory(from: $0) }
            a.storeBytes(of: UInt64(index).bigEndian, toByteOffset: FileHeader.fileIDSize, as: UInt64.self)
            a[FileHeader.fileIDSize + 8] = last ? 1 : 0
            return try body(UnsafeRawBufferPointer(rebasing: a[0..<Self.aadSize]))
        }
    }

    /// Seals `plaintext` (≤ blockSize; < blockSize when `last`) into `out`, which must hold
    /// `plaintext.count + 28` bytes and whose first 12 bytes already hold a fresh random nonce
    /// (callers draw all nonces of a request with one RAND_bytes call).
    public func seal(index: Int, last: Bool, plaintext: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer,
                     gcm: AESGCM) throws {
        precondition(plaintext.count <= layout.blockSize && (!last || plaintext.count < layout.blockSize))
        precondition(out.count == plaintext.count + AESGCM.overhead)
        let n = AESGCM.nonceSize
        try withAAD(index: index, last: last) { aad in
            try header.fileKey.withUnsafeBytes { k in
                try gcm.seal(key: k, nonce: UnsafeRawBufferPointer(rebasing: out[0..<n]), aad: aad, plaintext: plaintext,
                             ciphertext: UnsafeMutableRawBufferPointer(rebasing: out[n..<(n + plaintext.count)]),
                             tag: UnsafeMutableRawBufferPointer(rebasing: out[(n + plaintext.count)...]))
            }
        }
    }

    /// Opens one stored block into `plaintext` (at least `stored.count - 28` bytes); returns the
    /// plaintext length. Throws `CryptoError.authenticationFailed` on any mismatch.
    public func open(index: Int, last: Bool, stored: UnsafeRawBufferPointer, into plaintext: UnsafeMutableRawBufferPointer,
                     gcm: AESGCM) throws -> Int {
        guard stored.count >= AESGCM.overhead, stored.count <= layout.cipherBlockSize else { throw CryptoError.authenticationFailed }
        let n = AESGCM.nonceSize
        let ptLen = stored.count - AESGCM.overhead
        try withAAD(index: index, last: last) { aad in
            try header.fileKey.withUnsafeBytes { k in
                try gcm.open(key: k, nonce: UnsafeRawBufferPointer(rebasing: stored[0..<n]), aad: aad,
                             ciphertext: UnsafeRawBufferPointer(rebasing: stored[n..<(n + ptLen)]),
                             tag: UnsafeRawBufferPointer(rebasing: stored[(n + ptLen)...]),
                             plaintext: plaintext)
            }
        }
        return ptLen
    }
}
