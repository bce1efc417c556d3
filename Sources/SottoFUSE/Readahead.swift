import Foundation
import SottoCore
#if canImport(Glibc)
import Glibc
#endif

/// Folder readahead: a program that reads a folder's files one after another in listing order
/// (an editor indexing a vault, a sync tool hashing it, `cat *`, `tar -c`) would otherwise wait
/// for the disk once per file, in turn. When opens follow the order of the folder's last listing,
/// the first blocks of the next few files are requested from the disk ahead of the reader
/// (ciphertext only, into the backing page cache), the way the kernel reads ahead within a file.
///
/// Only read-only opens count, and only the order the mount itself listed; a folder whose files
/// are opened out of order gets at most `firstWindow` files ahead per open.
final class FolderReadahead: @unchecked Sendable {
    /// A folder's regular files in the order its last listing gave them.
    final class Order {
        /// A regular file: its plaintext name, backing path, and the ciphertext bytes to request.
        struct File { let name: [UInt8]; let backingPath: String; let bytes: Int }
        let files: [File]
        /// Built on the first open in the folder (most listed folders are never read).
        var index: [[UInt8]: Int]?
        var lastOpened = -2
        /// Files before this index have been requested.
        var requestedUpTo = 0
        /// The folder listed after this one.
        var nextListed: UInt64?
        init(_ files: [File]) { self.files = files }
    }

    /// Files requested ahead of a reader that opens them in order, and of any other first open.
    static let window = 8
    static let firstWindow = 2
    /// Plaintext bytes requested per file: the first reads of a whole-file reader (the kernel's
    /// own readahead takes over after them).
    static let headBytes = 256 << 10
    /// Files remembered across all folders; past this the memory is cleared and rebuilt by listings.
    static let maxFiles = 50_000

    private let lock = Mutex()
    private var byDirectory: [UInt64: Order] = [:]
    private var remembered = 0
    private var lastListed: UInt64?
    private let layout: ContentLayout

    private let tree: BackingTree

    /// `trace`: told each backing path requested (debug builds log it for the tests: whether the
    /// kernel then reads the pages in is its choice — WILLNEED readahead gives up under memory
    /// pressure — so what the mount asked for is what a test can rely on).
    init(layout: ContentLayout, tree: BackingTree, trace: (@Sendable (String) -> Void)? = nil) {
        self.layout = layout
        self.tree = tree
        requests = BackgroundQueue<Order.File>(name: "sotto-readahead", limit: Self.maxQueued) { [tree] in
            Self.request($0.backingPath, bytes: $0.bytes, in: tree)
            trace?($0.backingPath)
        }
    }

    /// A fresh listing of `directory`: remember its regular files in the order served.
    func listed(_ directory: UInt64, _ rows: [DirectoryListings.Row]) {
        let regular = rows.filter { $0.attributes.st_mode & S_IFMT == S_IFREG && $0.attributes.st_size > 0 }.map {
            Order.File(name: $0.name, backingPath: $0.backingPath,
                       bytes: layout.ciphertextSize(plaintextSize: min(Int($0.attributes.st_size), Self.headBytes)))
        }
        guard !regular.isEmpty, regular.count <= Self.maxFiles else { return }
        let order = Order(regular)
        lock.withLock {
            if let old = byDirectory[directory] { remembered -= old.files.count }
            if remembered + regular.count > Self.maxFiles { byDirectory = [:]; remembered = 0 }
            byDirectory[directory] = order
            remembered += regular.count
            // A tree walker (find, tar, a sync tool) lists folders in the order it reads them.
            if let previous = lastListed.flatMap({ byDirectory[$0] }), previous !== order { previous.nextListed = directory }
            lastListed = directory
        }
    }

    /// `name` in `directory` was opened read-only: request the files ahead of it, continuing
    /// into the folder listed next when the window reaches past this one's last file.
    func opened(_ name: [UInt8], in directory: UInt64) {
        var ahead: [Order.File] = []
        lock.withLock {
            guard let order = byDirectory[directory] else { return }
            if order.index == nil {
                order.index = Dictionary(order.files.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
            }
            guard let i = order.index![name] else { return }
            let sequential = i == order.lastOpened + 1
            order.lastOpened = i
            let want = sequential ? Self.window : Self.firstWindow
            let end = min(order.files.count, i + 1 + want)
            let start = sequential ? max(i + 1, order.requestedUpTo) : i + 1
            order.requestedUpTo = end
            ahead += order.files[start..<max(start, end)]
            let spill = i + 1 + want - order.files.count
            guard spill > 0, let nd = order.nextListed, nd != directory, let next = byDirectory[nd],
                  next.lastOpened < 0 else { return }
            // Not opened yet: the reader is expected to start at its first file.
            let nextEnd = min(next.files.count, spill)
            ahead += next.files[next.requestedUpTo..<max(next.requestedUpTo, nextEnd)]
            next.requestedUpTo = max(next.requestedUpTo, nextEnd)
            next.lastOpened = -1
        }
        if !ahead.isEmpty { enqueue(ahead) }
    }

    // MARK: The requesting thread

    /// Requests are made on one background thread: through io_uring an OPEN's reply leaves only
    /// when its handler returns, and opening and advising a few files would double its latency.
    /// Requests waiting beyond `maxQueued` are dropped (the reader has moved on, or is not a tree
    /// walker).
    private let requests: BackgroundQueue<Order.File>
    static let maxQueued = 256

    private func enqueue(_ files: [Order.File]) { requests.add(files) }

    /// Asks the disk for a file's first bytes without waiting for them (a gone file is skipped).
    static func request(_ backingPath: String, bytes: Int, in tree: BackingTree) {
        guard let fd = try? tree.openFile(backingPath, flags: O_RDONLY | O_NONBLOCK) else { return }
        _ = posix_fadvise(fd.rawValue, 0, off_t(bytes), POSIX_FADV_WILLNEED)
        fd.close()
    }
}
