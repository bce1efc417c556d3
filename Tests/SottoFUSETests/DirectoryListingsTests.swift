import Testing
@testable import SottoFUSE
#if canImport(Glibc)
import Glibc
#endif

/// Directory offsets from names (no OPENDIR state): the order and resume rules the mount relies
/// on. The mount test `test_listing_while_entries_change_returns_each_unchanged_entry_once`
/// drives the same through the kernel.
@Suite struct DirectoryListingsTests {
    func entries(_ names: [String]) -> [DirectoryListings.Entry] {
        names.map { (Array($0.utf8), "/b/" + $0, stat()) }
    }

    func names(_ rows: ArraySlice<DirectoryListings.Row>) -> [String] {
        rows.map { String(decoding: $0.name, as: UTF8.self) }
    }

    @Test func dotsFirstThenStrictlyIncreasingOffsetsAndTheLastEnds() {
        let rows = DirectoryListings.order(entries(["b", "..", "a", ".", "c"]))
        #expect(names(rows[...].prefix(2)) == [".", ".."])
        #expect(rows.map(\.next).dropLast() == rows.map { $0.key + 1 }.dropLast())
        #expect(zip(rows, rows.dropFirst()).allSatisfy { $0.key < $1.key })
        #expect(rows.last!.next == DirectoryListings.end)
        #expect(rows.dropFirst(2).dropLast().allSatisfy { $0.key >= 2 && $0.next < DirectoryListings.end })
    }

    @Test func resumingAfterAnEntrySkipsExactlyWhatWasReturned() {
        let all = (0..<50).map { "entry-\($0)" }
        let listing = DirectoryListings.Listing(DirectoryListings.order(entries([".", ".."] + all)))
        var got: [String] = []
        var offset: off_t = 0
        // Pages of 7 rows, resuming at the last row's offset as the kernel does.
        while true {
            let start = listing.firstIndex(resumingAt: offset)
            if start == listing.rows.count || offset >= DirectoryListings.end { break }
            let page = listing.rows[start..<min(start + 7, listing.rows.count)]
            got += names(page)
            offset = page.last!.next
        }
        #expect(got.count == all.count + 2)
        #expect(Set(got) == Set(all + [".", ".."]))
    }

    @Test func aResumedListingOfAChangedDirectoryReturnsUnchangedEntriesOnce() {
        let before = (0..<40).map { "f\($0)" }
        let first = DirectoryListings.Listing(DirectoryListings.order(entries(before)))
        let page = first.rows[0..<15]
        // Meanwhile: five entries already returned and five not yet returned go, three come.
        let returned = Set(names(page))
        let goneReturned = before.filter { returned.contains($0) }.prefix(5)
        let goneLater = before.filter { !returned.contains($0) }.prefix(5)
        let after = before.filter { !goneReturned.contains($0) && !goneLater.contains($0) } + ["new1", "new2", "new3"]
        let second = DirectoryListings.Listing(DirectoryListings.order(entries(after)))
        let rest = names(second.rows[second.firstIndex(resumingAt: page.last!.next)...])
        let seen = names(page) + rest
        let unchanged = Set(before).subtracting(goneReturned).subtracting(goneLater)
        #expect(unchanged.isSubset(of: Set(seen)))
        #expect(seen.count == Set(seen).count)
    }

    @Test func collidingKeysAreSeparated() {
        // Two distinct names with one key cannot share an offset: the later sorts one past it.
        let rows = DirectoryListings.order(entries(["x", "y", "x"]))
        #expect(zip(rows, rows.dropFirst()).allSatisfy { $0.key < $1.key })
    }

    @Test func keysAreStableAcrossRunsAndBuilds() {
        // FNV-1a test vectors (the offsets a program saw must mean the same after a remount).
        #expect(DirectoryListings.fnv1a([]) == 0xcbf2_9ce4_8422_2325)
        #expect(DirectoryListings.fnv1a(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
        #expect(DirectoryListings.fnv1a(Array("foobar".utf8)) == 0x8594_4171_f739_67e8)
    }
}
