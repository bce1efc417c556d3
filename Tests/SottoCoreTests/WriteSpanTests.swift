import Testing
@testable import SottoCore

/// The write planner on its own (as gocryptfs tests its offsets): which blocks a write reseals,
/// where their ciphertext goes, which need their old bytes.
@Suite struct WriteSpanTests {
    let layout = ContentLayout(blockSize: 4096)
    var B: Int { layout.blockSize }
    var CB: Int { layout.cipherBlockSize }

    @Test func knownCases() {
        // One byte into an empty file: block 0 only, sealed as final; nothing old to keep.
        var s = WriteSpan(layout: layout, offset: 0, count: 1, oldSize: 0)
        #expect(s.blocks == 0...0 && s.cipherOffset == FileHeader.size && s.cipherLength == 1 + AESGCM.overhead)
        #expect(s.newBlocksFrom == nil && !s.keepsOldBytes(ofBlock: 0) && s.dataCoversWhole(block: 0))
        // Exactly one block into an empty file: block 0 becomes whole and an empty final block 1
        // is new (written first).
        s = WriteSpan(layout: layout, offset: 0, count: B, oldSize: 0)
        #expect(s.blocks == 0...1 && s.cipherLength == CB + AESGCM.overhead && s.newBlocksFrom == CB)
        #expect(s.length(ofBlock: 1) == 0 && s.dataCoversWhole(block: 0))
        // Appending one byte to a file of 10: block 0 reseals with its old 10 bytes kept.
        s = WriteSpan(layout: layout, offset: 10, count: 1, oldSize: 10)
        #expect(s.blocks == 0...0 && s.keepsOldBytes(ofBlock: 0) && !s.dataCoversWhole(block: 0) && s.newBlocksFrom == nil)
        // Overwriting the middle of a 3-block file: only the blocks touched; the final block is
        // not resealed.
        s = WriteSpan(layout: layout, offset: B + 5, count: 10, oldSize: 2 * B + 100)
        #expect(s.blocks == 1...1 && s.cipherOffset == FileHeader.size + CB && s.cipherLength == CB && s.newSize == 2 * B + 100)
        // A write from inside block 1 to past the end of a 2.5-block file: blocks 1 through the new final.
        s = WriteSpan(layout: layout, offset: B + 1, count: 3 * B, oldSize: 2 * B + B / 2)
        #expect(s.blocks == 1...4 && s.newSize == 4 * B + 1 && s.newFinal == 4 && s.oldFinal == 2)
        #expect(s.newBlocksFrom == 2 * CB && s.cipherLength == 3 * CB + 1 + AESGCM.overhead)
        #expect(s.keepsOldBytes(ofBlock: 1) && !s.keepsOldBytes(ofBlock: 2) && s.dataCoversWhole(block: 2) && s.dataCoversWhole(block: 3))
        #expect(s.oldLength(ofBlock: 2) == B / 2 && s.oldLength(ofBlock: 3) == 0)
    }

    /// Against a brute-force model of the format: a block must be resealed exactly when its
    /// plaintext or its last flag changes (or it is the final one a grow creates); the bytes
    /// written are those of the new ciphertext from the first resealed block on.
    @Test(arguments: [4096, 16384])
    func agreesWithABruteForceModel(blockSize: Int) {
        let l = ContentLayout(blockSize: blockSize)
        let B = blockSize
        var rng = SplitMix(seed: UInt64(blockSize))
        for _ in 0..<3000 {
            let oldSize = rng.below(5 * B)
            let offset = rng.below(oldSize + 1)
            let count = 1 + rng.below(3 * B)
            let s = WriteSpan(layout: l, offset: offset, count: count, oldSize: oldSize)
            let newSize = max(oldSize, offset + count)
            let oldBlocks = oldSize / B + 1, newBlocks = newSize / B + 1
            func changes(_ i: Int) -> Bool {
                let start = i * B, newLen = min(B, newSize - start)
                let touched = offset < start + max(newLen, 1) && offset + count > start
                let oldLen = i < oldBlocks ? min(B, oldSize - start) : -1
                let flagChanged = (i == oldBlocks - 1) != (i == newBlocks - 1)
                return touched || i >= oldBlocks || flagChanged || oldLen != newLen
            }
            let expected = (0..<newBlocks).filter(changes)
            #expect(Array(s.blocks) == expected, "old \(oldSize) write \(offset)+\(count)")
            #expect(s.cipherOffset + s.cipherLength == l.ciphertextSize(plaintextSize: newSize) || s.last < newBlocks - 1)
            #expect(s.cipherOffset == l.cipherOffset(ofBlock: expected.first!))
            for i in s.blocks {
                let start = i * B
                let keeps = s.oldLength(ofBlock: i) > 0 && (offset > start || offset + count < start + s.oldLength(ofBlock: i))
                #expect(s.keepsOldBytes(ofBlock: i) == keeps)
            }
        }
    }
}
