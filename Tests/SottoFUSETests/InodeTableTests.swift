import Foundation
import Testing
import SottoCore
@testable import SottoFUSE
#if canImport(Glibc)
import Glibc
#endif

/// The inode table's bookkeeping on its own: names, cached backing paths, renames of files and
/// directories (descendants follow by prefix, and only by a whole-component prefix), exchanges,
/// hard links, forgets. The mount tests drive the same through the kernel.
@Suite struct InodeTableTests {
    final class Fixture {
        let dir: String
        let table: InodeTable
        init() throws {
            var t = Array("/tmp/sotto-inodes-XXXXXX".utf8CString)
            dir = t.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
            let vault = try Vault.create(at: dir + "/v", password: SecretBytes(copying: Array("pw".utf8)),
                                         kdf: Argon2idParameters(memoryKiB: 1024, iterations: 1, parallelism: 1))
            table = InodeTable(rootPath: vault.path, rootStat: try FileSystem.lstat(vault.path), mapper: PathMapper(vault: vault))
        }
        deinit { try? FileManager.default.removeItem(atPath: dir) }

        /// The kernel looked up `name` in `parent` and got the backing inode `ino` at `path`.
        @discardableResult
        func remember(_ parent: UInt64, _ name: String, _ path: String, ino: Int) -> UInt64 {
            var st = stat()
            st.st_dev = 99
            st.st_ino = UInt(ino)
            return table.remember(parent: parent, name: Array(name.utf8), backingPath: path, stat: st)
        }
        func path(_ ino: UInt64) -> String? { try? table.path(ino) }
        func cached(_ parent: UInt64, _ name: String) -> String? { table.cachedPath(parent: parent, name: Array(name.utf8)) }
    }

    let root = InodeTable.rootIno

    @Test func renamingAFileMovesItsNameAndPath() throws {
        let f = try Fixture()
        let a = f.remember(root, "a", "/v/A", ino: 10)
        f.table.rename(parent: root, name: Array("a".utf8), from: "/v/A", to: root, newName: Array("b".utf8), newPath: "/v/B", isDirectory: false)
        #expect(f.path(a) == "/v/B")
        #expect(f.cached(root, "b") == "/v/B" && f.cached(root, "a") == nil)
        #expect(f.table.firstLink(a) == InodeTable.Link(parent: root, name: Array("b".utf8)))
    }

    @Test func renamingADirectoryRewritesDescendantsByWholeComponent() throws {
        let f = try Fixture()
        let d = f.remember(root, "d", "/v/D", ino: 20)
        let child = f.remember(d, "x", "/v/D/X", ino: 21)
        let deep = f.remember(child, "y", "/v/D/X/Y", ino: 22)
        let sibling = f.remember(root, "dd", "/v/DD", ino: 23)
        let cousin = f.remember(sibling, "z", "/v/DD/Z", ino: 24)  // shares the text prefix "/v/D"
        f.table.rename(parent: root, name: Array("d".utf8), from: "/v/D", to: root, newName: Array("e".utf8), newPath: "/v/E", isDirectory: true)
        #expect(f.path(d) == "/v/E" && f.path(child) == "/v/E/X" && f.path(deep) == "/v/E/X/Y")
        #expect(f.path(sibling) == "/v/DD" && f.path(cousin) == "/v/DD/Z")
    }

    @Test func exchangingTwoDirectoriesSwapsThemAndTheirDescendants() throws {
        let f = try Fixture()
        let a = f.remember(root, "a", "/v/A", ino: 30)
        let a1 = f.remember(a, "1", "/v/A/1", ino: 31)
        let b = f.remember(root, "b", "/v/B", ino: 32)
        let b2 = f.remember(b, "2", "/v/B/2", ino: 33)
        let la = InodeTable.Link(parent: root, name: Array("a".utf8)), lb = InodeTable.Link(parent: root, name: Array("b".utf8))
        f.table.exchange(la, "/v/A", lb, "/v/B")
        // The directory that was "a" is now named "b", at b's backing entry, and the other way round.
        #expect(f.path(a) == "/v/B" && f.path(b) == "/v/A")
        #expect(f.path(a1) == "/v/B/1" && f.path(b2) == "/v/A/2")
        #expect(f.table.firstLink(a) == lb && f.table.firstLink(b) == la)
        #expect(f.cached(root, "b") == "/v/B" && f.cached(root, "a") == "/v/A")
    }

    @Test func exchangingWithANameTheKernelNeverLookedUp() throws {
        let f = try Fixture()
        let a = f.remember(root, "a", "/v/A", ino: 40)
        let la = InodeTable.Link(parent: root, name: Array("a".utf8)), lb = InodeTable.Link(parent: root, name: Array("b".utf8))
        f.table.exchange(la, "/v/A", lb, "/v/B")
        #expect(f.path(a) == "/v/B" && f.table.firstLink(a) == lb)
        #expect(f.cached(root, "a") == nil)  // whatever "a" is now, the kernel must look it up
    }

    @Test func hardLinksShareOneNodeAndAForgottenNodeIsGone() throws {
        let f = try Fixture()
        let one = f.remember(root, "one", "/v/ONE", ino: 50)
        let two = f.remember(root, "two", "/v/TWO", ino: 50)
        #expect(one == two)
        #expect(f.cached(root, "one") == nil)  // two names: the cached path may be the other one
        f.table.forget(one, 2)
        #expect(f.path(one) == nil)
        // The same backing inode looked up again: a new kernel inode.
        #expect(f.remember(root, "one", "/v/ONE", ino: 50) != one)
    }

    @Test func aRemovedNameLeavesNoPathAndItsInodeNumberIsNotReused() throws {
        let f = try Fixture()
        let a = f.remember(root, "a", "/v/A", ino: 60)
        f.table.removeLink(parent: root, name: Array("a".utf8), backingPath: "/v/A")
        #expect(f.path(a) == nil && f.cached(root, "a") == nil)
        // A new file that got the same backing inode number (the old one is gone) is a new node.
        #expect(f.remember(root, "a", "/v/A", ino: 60) != a)
    }
}
