import Foundation
import Testing
import SottoCore

/// Writes a file a test depends on; a write that failed would otherwise surface as a confusing
/// failure further on.
func writeTestFile(atPath path: String, contents: Data?, attributes: [FileAttributeKey: Any]? = nil,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    let written = FileManager.default.createFile(atPath: path, contents: contents, attributes: attributes)
    #expect(written, "could not write \(path)", sourceLocation: sourceLocation)
}

/// The `sotto` binary driven as a user would: exit codes, messages, and what lands on disk.
enum CLI {
    static var binary: String {
        if let b = ProcessInfo.processInfo.environment["SOTTO_BIN"] { return b }
        // The test runner lives in the same build directory as the product.
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("sotto").path
    }

    struct Result { let code: Int32; let out: [UInt8]; let err: String; var stdout: String { String(decoding: out, as: UTF8.self) } }

    @discardableResult
    static func run(_ args: [String], stdin: String? = nil, in cwd: String? = nil, withoutTerminal: Bool = false,
                    environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if withoutTerminal {
            // setsid starts a new session with no controlling terminal; --wait passes on the exit code.
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
            p.arguments = ["--wait", binary] + args
        } else {
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = args
        }
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Drain both pipes concurrently so a large output cannot block the child.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Result(code: p.terminationStatus, out: [UInt8](outData), err: String(decoding: errData, as: UTF8.self))
    }
}

final class Scratch {
    let path: String
    init() {
        var t = Array("/tmp/sotto-cli-XXXXXX".utf8CString)
        path = t.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        writeTestFile(atPath: path + "/pw", contents: Data("correct horse battery\n".utf8))
        writeTestFile(atPath: path + "/pw2", contents: Data("new staple\n".utf8))
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func p(_ s: String) -> String { path + "/" + s }
    var pw: [String] { ["--password-file", p("pw")] }

    func initVault(_ name: String = "vault") throws -> String {
        let r = try CLI.run(["init", p(name), "--kdf-memory", "1", "--kdf-time", "1"] + pw)
        #expect(r.code == 0, "\(r.err)")
        return p(name)
    }

    /// Every path under `dir` with a digest of its content: to prove a failed command changed nothing.
    func snapshot(_ dir: String) -> [String: Data] {
        var out: [String: Data] = [:]
        let fm = FileManager.default
        for rel in (fm.subpaths(atPath: dir) ?? []) {
            out[rel] = fm.contents(atPath: dir + "/" + rel) ?? Data()
        }
        return out
    }
}

/// Sentences of a fake interview; every 4-word run must stay out of the vault directory.
let transcript = """
Interviewer: Thank you for joining the research panel today.
Participant: My manager asked me to sign the nondisclosure papers before the merger was public.
Interviewer: How did the quarterly numbers compare with the forecast you were shown?
Participant: The auditors flagged the Lisbon warehouse inventory twice in one week.
"""

func wavFile(seconds: Double = 0.5) -> Data {
    let rate = 8000, n = Int(Double(rate) * seconds)
    var d = Data()
    func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
    func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { d.append(contentsOf: $0) } }
    d.append(contentsOf: Array("RIFF".utf8)); u32(36 + n * 2); d.append(contentsOf: Array("WAVEfmt ".utf8))
    u32(16); u16(1); u16(1); u32(rate); u32(rate * 2); u16(2); u16(16)
    d.append(contentsOf: Array("data".utf8)); u32(n * 2)
    for i in 0..<n { u16(Int(Int16(sin(Double(i) * 2 * .pi * 440 / Double(rate)) * 12000)) & 0xffff) }
    return d
}

@Suite struct CLIWorkflowTests {
    @Test func importLeavesNoPlaintextAndExportReturnsIdenticalBytes() throws {
        let s = Scratch()
        let vault = try s.initVault()
        let src = s.p("Transcripts")
        try FileManager.default.createDirectory(atPath: src + "/Lisbon interviews", withIntermediateDirectories: true)
        writeTestFile(atPath: src + "/Lisbon interviews/panel-session-one.txt", contents: Data(transcript.utf8))
        writeTestFile(atPath: src + "/merger-notes.md", contents: Data((transcript + transcript).utf8))
        writeTestFile(atPath: src + "/recording-042.wav", contents: wavFile())
        let imp = try CLI.run(["import", vault, src] + s.pw)
        #expect(imp.code == 0, "\(imp.err)")

        // Search every byte and every name under the vault for the plaintext.
        let words = transcript.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        var needles = (0..<(words.count - 3)).map { words[$0..<($0 + 4)].joined(separator: " ") }
        needles += ["Transcripts", "Lisbon", "panel-session", "merger-notes", "recording-042", "WAVEfmt"]
        let fm = FileManager.default
        for rel in fm.subpaths(atPath: vault) ?? [] {
            for n in needles { #expect(!rel.contains(n), "name leaks '\(n)': \(rel)") }
            guard let data = fm.contents(atPath: vault + "/" + rel), !data.isEmpty else { continue }
            for n in needles { #expect(data.range(of: Data(n.utf8)) == nil, "content of \(rel) leaks '\(n)'") }
        }

        let ls = try CLI.run(["ls", vault, "/Transcripts"] + s.pw)
        #expect(ls.stdout == "Lisbon interviews/\nmerger-notes.md\nrecording-042.wav\n")
        let cat = try CLI.run(["cat", vault, "/Transcripts/Lisbon interviews/panel-session-one.txt"] + s.pw)
        #expect(cat.code == 0)
        #expect(cat.stdout == transcript)

        let exp = try CLI.run(["export", vault, "/Transcripts", s.p("out")] + s.pw)
        #expect(exp.code == 0, "\(exp.err)")
        for rel in ["Lisbon interviews/panel-session-one.txt", "merger-notes.md", "recording-042.wav"] {
            #expect(fm.contents(atPath: s.p("out/") + rel) == fm.contents(atPath: src + "/" + rel), "\(rel)")
        }
    }

    @Test func passwdKeepsDataAndTheOldPasswordFails() throws {
        let s = Scratch()
        let vault = try s.initVault()
        writeTestFile(atPath: s.p("a.txt"), contents: Data("keep me".utf8))
        #expect(try CLI.run(["import", vault, s.p("a.txt")] + s.pw).code == 0)
        let r = try CLI.run(["passwd", vault, "--new-password-file", s.p("pw2")] + s.pw)
        #expect(r.code == 0, "\(r.err)")
        let old = try CLI.run(["cat", vault, "/a.txt"] + s.pw)
        #expect(old.code == SottoError.ExitCode.wrongPassword)
        #expect(old.err.contains("wrong password"))
        // Config and its backup are private to the owner.
        for f in ["sotto.conf", "sotto.conf.bak"] {
            let mode = (try FileManager.default.attributesOfItem(atPath: vault + "/" + f)[.posixPermissions] as? Int) ?? -1
            #expect(mode == 0o600, "\(f) has mode \(String(mode, radix: 8))")
        }
        let new = try CLI.run(["cat", vault, "/a.txt", "--password-file", s.p("pw2")])
        #expect(new.stdout == "keep me")
        #expect(try CLI.run(["cat", vault, "/a.txt", "--password-stdin"], stdin: "new staple\n").stdout == "keep me")
    }

    @Test func infoNeedsNoPasswordAndShowsNoSecret() throws {
        let s = Scratch()
        let vault = try s.initVault()
        let r = try CLI.run(["info", vault], stdin: "")
        #expect(r.code == 0)
        #expect(r.stdout.contains("sotto v7"))
        #expect(r.stdout.contains("1 of 8"))
        let conf = try String(contentsOfFile: vault + "/sotto.conf", encoding: .utf8)
        #expect(!r.stdout.contains("wrappedMasterKey"))
        #expect(conf.contains("wrappedMasterKey"))
    }
}

/// Each bad input: one clear line, the documented exit code, nothing changed on disk.
@Suite struct CLIErrorTests {
    func expectFailure(_ args: [String], code: Int32, mentions: String, unchanged dir: String? = nil, stdin: String? = nil) throws {
        let before = dir.map { Scratch.snapshotStatic($0) }
        let r = try CLI.run(args, stdin: stdin)
        #expect(r.code == code, "\(args): got \(r.code), stderr: \(r.err)")
        #expect(r.err.contains(mentions), "\(args): stderr was: \(r.err)")
        #expect(r.err.hasPrefix("sotto: "))
        if let dir, let before { #expect(Scratch.snapshotStatic(dir) == before, "\(args) changed \(dir)") }
    }

    /// A usage error is one line starting "sotto: " like every other error (not ArgumentParser's
    /// several lines and its own "Error: "), and a mistyped command gets the nearest one.
    @Test func usageErrorsAreOneLineAndMistypedCommandsGetASuggestion() throws {
        for (args, mentions) in [(["mont", "v", "m"], "did you mean 'mount'?"), (["statsu"], "did you mean 'status'?"),
                                 (["mount"], "usage: sotto mount"), (["--bogus"], "Unknown option '--bogus'"),
                                 (["xyzzy"], "unknown command 'xyzzy'")] {
            let r = try CLI.run(args)
            #expect(r.code == SottoError.ExitCode.usage, "\(args)")
            #expect(r.err.contains(mentions), "\(args): \(r.err)")
            #expect(r.err.hasPrefix("sotto: ") && r.err.split(separator: "\n").count == 1, "\(args): \(r.err)")
            #expect(!r.err.contains("Error:") && !r.err.contains("\\x0a"), "\(args): \(r.err)")
        }
    }

    /// `info --json` and `key list --json`: schema 1, the slots, paths with their slashes as they are.
    @Test func infoAndKeyListSpeakJSON() throws {
        let s = Scratch()
        let vault = try s.initVault()
        let info = try CLI.run(["info", vault, "--json"])
        #expect(info.code == 0)
        #expect(info.stdout.contains("\"vault\" : \"\(vault)\""))  // not "\/tmp\/..."
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])
        #expect(doc["schema"] as? Int == 1 && doc["format"] as? Int == 7 && doc["maxSlots"] as? Int == 8)
        let slots = try #require(doc["slots"] as? [[String: Any]])
        #expect(slots.count == 1 && slots[0]["index"] as? Int == 0)
        #expect((slots[0]["kdf"] as? [String: Any])?["algorithm"] as? String == "argon2id")
        let list = try CLI.run(["key", "list", vault, "--json"])
        let keys = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
        #expect(list.code == 0 && keys["schema"] as? Int == 1 && (keys["slots"] as? [[String: Any]])?.count == 1)
    }

    /// A new password under 8 characters is refused (init, passwd, key add) unless asked for.
    @Test func shortNewPasswordsAreRefusedUnlessAskedFor() throws {
        let s = Scratch()
        writeTestFile(atPath: s.p("short"), contents: Data("abc1234\n".utf8))
        let refused = try CLI.run(["init", s.p("v1"), "--password-file", s.p("short"), "--kdf-memory", "1", "--kdf-time", "1"])
        #expect(refused.code == SottoError.ExitCode.passwordInput && refused.err.contains("--weak-password-ok"), "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: s.p("v1") + "/sotto.conf"))
        let allowed = try CLI.run(["init", s.p("v1"), "--password-file", s.p("short"), "--weak-password-ok", "--kdf-memory", "1", "--kdf-time", "1"])
        #expect(allowed.code == 0 && allowed.err.contains("short"), "\(allowed.err)")
        let vault = try s.initVault()
        let config = try #require(FileManager.default.contents(atPath: vault + "/sotto.conf"))
        #expect(try CLI.run(["passwd", vault, "--new-password-file", s.p("short")] + s.pw).code == SottoError.ExitCode.passwordInput)
        #expect(try CLI.run(["key", "add", vault, "--new-password-file", s.p("short")] + s.pw).code == SottoError.ExitCode.passwordInput)
        #expect(FileManager.default.contents(atPath: vault + "/sotto.conf") == config)
    }

    @Test func badInputs() throws {
        let s = Scratch()
        let vault = try s.initVault()
        writeTestFile(atPath: s.p("a.txt"), contents: Data("hello".utf8))
        #expect(try CLI.run(["import", vault, s.p("a.txt")] + s.pw).code == 0)
        writeTestFile(atPath: s.p("wrong"), contents: Data("nope\n".utf8))
        writeTestFile(atPath: s.p("empty"), contents: Data())

        try expectFailure(["cat", vault, "/a.txt", "--password-file", s.p("wrong")], code: 12, mentions: "wrong password", unchanged: vault)
        try expectFailure(["cat", s.p("missing"), "/a.txt"] + s.pw, code: 10, mentions: "does not exist")
        try FileManager.default.createDirectory(atPath: s.p("plain"), withIntermediateDirectories: true)
        try expectFailure(["ls", s.p("plain")] + s.pw, code: 10, mentions: "not a Sotto vault", unchanged: s.p("plain"))
        try expectFailure(["init", vault] + s.pw, code: 14, mentions: "not empty", unchanged: vault)
        try expectFailure(["cat", vault, "/nope.txt"] + s.pw, code: 17, mentions: "does not exist in the vault", unchanged: vault)
        try expectFailure(["cat", vault, "/a.txt", "--password-file", s.p("empty")], code: 15, mentions: "empty", unchanged: vault)
        try expectFailure(["cat", vault, "/a.txt", "--password-file", s.p("nofile")], code: 15, mentions: "cannot read password file", unchanged: vault)
        try expectFailure(["cat", vault], code: 2, mentions: "Missing expected argument")
        // No password source and no terminal: say how to give one.
        let noTTY = try CLI.run(["ls", vault], stdin: "", withoutTerminal: true)
        #expect(noTTY.code == SottoError.ExitCode.passwordInput)
        #expect(noTTY.err.contains("--password-file"))
        try expectFailure(["cat", vault, "/a.txt", "--password", "secret"], code: 2, mentions: "Unknown option")
        try expectFailure(["init", s.p("v2"), "--kdf-memory", "0"] + s.pw, code: 2, mentions: "--kdf-memory")
        try FileManager.default.createDirectory(atPath: s.p("dest"), withIntermediateDirectories: true)
        writeTestFile(atPath: s.p("dest/a.txt"), contents: Data("old".utf8))
        try expectFailure(["export", vault, "/a.txt", s.p("dest")] + s.pw, code: 19, mentions: "already exists", unchanged: s.p("dest"))
        // The same file imported again changes nothing; a different one under that name is kept out.
        let again = try CLI.run(["import", vault, s.p("a.txt")] + s.pw)
        #expect(again.code == 0 && again.stdout.contains("1 already in the vault, unchanged"), "\(again.stdout)")
        writeTestFile(atPath: s.p("a.txt"), contents: Data("changed since".utf8))
        try expectFailure(["import", vault, s.p("a.txt")] + s.pw, code: 19, mentions: "differs", unchanged: vault)
        // Plaintext never goes into the vault directory, and the vault is never imported into itself.
        try expectFailure(["export", vault, "/a.txt", vault + "/plain.txt"] + s.pw, code: 2, mentions: "inside the vault", unchanged: vault)
        try expectFailure(["export", vault, "/a.txt", vault + "/../" + URL(fileURLWithPath: vault).lastPathComponent + "/x"] + s.pw,
                          code: 2, mentions: "inside the vault", unchanged: vault)
        try expectFailure(["import", vault, s.path] + s.pw, code: 2, mentions: "overlap", unchanged: vault)

        // Config problems.
        let conf = vault + "/sotto.conf"
        let good = FileManager.default.contents(atPath: conf)!
        writeTestFile(atPath: conf, contents: good.prefix(good.count / 2))
        try expectFailure(["cat", vault, "/a.txt"] + s.pw, code: 11, mentions: "damaged", unchanged: vault)
        writeTestFile(atPath: conf, contents: Data(String(decoding: good, as: UTF8.self).replacingOccurrences(of: "\"version\": 7", with: "\"version\": 13").utf8))
        try expectFailure(["ls", vault] + s.pw, code: 13, mentions: "newer than this build", unchanged: vault)
        try FileManager.default.removeItem(atPath: conf)
        try expectFailure(["ls", vault] + s.pw, code: 10, mentions: "not a Sotto vault", unchanged: vault)
        writeTestFile(atPath: conf, contents: good)
    }

    @Test func tamperedFileNamesFileAndBlockAndPrintsNothingUnauthenticated() throws {
        let s = Scratch()
        let vault = try s.initVault()
        // Three blocks: the tamper hits block 1, so block 0 may be printed but nothing after it.
        let block = 16384
        var content = Data()
        for i in 0..<(2 * block + 500) { content.append(UInt8(truncatingIfNeeded: i % 251)) }
        writeTestFile(atPath: s.p("big.bin"), contents: content)
        #expect(try CLI.run(["import", vault, s.p("big.bin")] + s.pw).code == 0)
        let backing = try FileManager.default.contentsOfDirectory(atPath: vault).first { !$0.hasPrefix("sotto.") }!
        let path = vault + "/" + backing
        var bytes = FileManager.default.contents(atPath: path)!
        bytes[78 + (block + 28) + 40] ^= 1
        writeTestFile(atPath: path, contents: bytes)
        let cat = try CLI.run(["cat", vault, "/big.bin"] + s.pw)
        #expect(cat.code == SottoError.ExitCode.integrity)
        #expect(cat.err.contains("/big.bin") && cat.err.contains("block 1 of 3") && cat.err.contains(backing))
        #expect(cat.out.count <= block)
        #expect(Data(cat.out) == content.prefix(cat.out.count))
        let exp = try CLI.run(["export", vault, "/big.bin", s.p("out.bin")] + s.pw)
        #expect(exp.code == SottoError.ExitCode.integrity)
        #expect(!FileManager.default.fileExists(atPath: s.p("out.bin")))  // no partial plaintext left behind
    }
}

extension Scratch {
    static func snapshotStatic(_ dir: String) -> [String: Data] {
        var out: [String: Data] = [:]
        for rel in FileManager.default.subpaths(atPath: dir) ?? [] { out[rel] = FileManager.default.contents(atPath: dir + "/" + rel) ?? Data() }
        return out
    }
}

@Suite struct KeySlotTests {
    @Test func addListRemoveAndTheRules() throws {
        let s = Scratch()
        let vault = try s.initVault()
        writeTestFile(atPath: s.p("a.txt"), contents: Data("slots".utf8))
        #expect(try CLI.run(["import", vault, s.p("a.txt")] + s.pw).code == 0)
        let weak = ["--kdf-memory", "1", "--kdf-time", "1"]
        let add = try CLI.run(["key", "add", vault, "--new-password-file", s.p("pw2")] + weak + s.pw)
        #expect(add.code == 0 && add.stdout.contains("added key slot 1"), "\(add.err)")
        let list = try CLI.run(["key", "list", vault], stdin: "")
        #expect(list.stdout.contains("slot 0:") && list.stdout.contains("slot 1:") && list.stdout.contains("2 of 8"))
        // Both passwords open the vault.
        #expect(try CLI.run(["cat", vault, "/a.txt"] + s.pw).stdout == "slots")
        #expect(try CLI.run(["cat", vault, "/a.txt", "--password-file", s.p("pw2")]).stdout == "slots")
        // Remove slot 0 with slot 1's password: the first password stops working, here and in the backup.
        #expect(try CLI.run(["key", "remove", vault, "0", "--password-file", s.p("pw2")]).code == 0)
        #expect(try CLI.run(["cat", vault, "/a.txt"] + s.pw).code == SottoError.ExitCode.wrongPassword)
        let bak = try VaultConfig.parse([UInt8](FileManager.default.contents(atPath: vault + "/sotto.conf.bak")!))
        #expect(try bak.unwrapMasterKey(password: SecretBytes(copying: Array("correct horse battery".utf8))) == nil)
        // Never the last slot; a slot that is not in use is named as such.
        let last = try CLI.run(["key", "remove", vault, "1", "--password-file", s.p("pw2")])
        #expect(last.code == SottoError.ExitCode.keySlot && last.err.contains("last"))
        let missing = try CLI.run(["key", "remove", vault, "5", "--password-file", s.p("pw2")])
        #expect(missing.code == SottoError.ExitCode.keySlot && missing.err.contains("not in use"))
        // Eight at most.
        for _ in 0..<7 { #expect(try CLI.run(["key", "add", vault, "--new-password-file", s.p("pw")] + weak + ["--password-file", s.p("pw2")]).code == 0) }
        let full = try CLI.run(["key", "add", vault, "--new-password-file", s.p("pw")] + weak + ["--password-file", s.p("pw2")])
        #expect(full.code == SottoError.ExitCode.keySlot && full.err.contains("all 8"))
    }

    @Test func extpassRunsACommandForThePassword() throws {
        let s = Scratch()
        let vault = try s.initVault()
        writeTestFile(atPath: s.p("a.txt"), contents: Data("ext".utf8))
        #expect(try CLI.run(["import", vault, s.p("a.txt")] + s.pw).code == 0)
        let ok = try CLI.run(["cat", vault, "/a.txt", "--extpass", "cat '\(s.p("pw"))'"])
        #expect(ok.code == 0 && ok.stdout == "ext", "\(ok.err)")
        let failing = try CLI.run(["cat", vault, "/a.txt", "--extpass", "exit 3"])
        #expect(failing.code == SottoError.ExitCode.passwordInput && failing.err.contains("--extpass"))
        let both = try CLI.run(["cat", vault, "/a.txt", "--extpass", "true"] + s.pw)
        #expect(both.code == SottoError.ExitCode.usage)
    }
}

@Suite struct RecoveryKeyTests {
    /// The key as printed: the line of 11 dash-separated groups.
    func printedKey(_ out: String) -> String? {
        out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.split(separator: "-").count == 11 }
    }

    /// `recovery-key verify` checks a written key and changes nothing; `key list` shows the
    /// recovery slot as such, not as a weak password.
    @Test func aWrittenKeyIsCheckedWithoutChangingAnything() throws {
        let s = Scratch()
        let vault = s.p("vault")
        let made = try CLI.run(["init", vault, "--recovery-key", "--kdf-memory", "1", "--kdf-time", "1"] + s.pw)
        let key = try #require(printedKey(made.stdout))
        let config = try #require(FileManager.default.contents(atPath: vault + "/sotto.conf"))
        writeTestFile(atPath: s.p("rk"), contents: Data((key.lowercased() + "\n").utf8))
        let ok = try CLI.run(["recovery-key", "verify", vault, "--recovery-key-file", s.p("rk")])
        #expect(ok.code == 0 && ok.stdout.contains("opens key slot 1"), "\(ok.stdout)\(ok.err)")
        var typo = Array(key)
        let i = typo.firstIndex { $0 != "-" && $0 != "A" }!
        typo[i] = "A"
        writeTestFile(atPath: s.p("typo"), contents: Data((String(typo) + "\n").utf8))
        let bad = try CLI.run(["recovery-key", "verify", vault, "--recovery-key-file", s.p("typo")])
        #expect(bad.code == SottoError.ExitCode.passwordInput && bad.err.contains("typo"), "\(bad.err)")
        let other = try #require(printedKey(try CLI.run(["init", s.p("other"), "--recovery-key", "--kdf-memory", "1", "--kdf-time", "1"] + s.pw).stdout))
        writeTestFile(atPath: s.p("other-rk"), contents: Data((other + "\n").utf8))
        #expect(try CLI.run(["recovery-key", "verify", vault, "--recovery-key-file", s.p("other-rk")]).code == SottoError.ExitCode.wrongPassword)
        #expect(FileManager.default.contents(atPath: vault + "/sotto.conf") == config)  // nothing changed
        let list = try CLI.run(["key", "list", vault]).stdout
        #expect(list.contains("slot 1: recovery key") && !list.contains("slot 1: password"), "\(list)")
    }

    @Test func forgetThePasswordRecoverSetANewOne() throws {
        let s = Scratch()
        let vault = s.p("vault")
        let made = try CLI.run(["init", vault, "--recovery-key", "--kdf-memory", "1", "--kdf-time", "1"] + s.pw)
        #expect(made.code == 0, "\(made.err)")
        let key = try #require(printedKey(made.stdout))
        writeTestFile(atPath: s.p("a.txt"), contents: Data("recovered".utf8))
        #expect(try CLI.run(["import", vault, s.p("a.txt")] + s.pw).code == 0)

        // A typo is caught by the checksum before anything is tried.
        var typo = Array(key)
        let i = typo.firstIndex { $0 != "-" && $0 != "A" }!
        typo[i] = "A"
        writeTestFile(atPath: s.p("typo"), contents: Data((String(typo) + "\n").utf8))
        let bad = try CLI.run(["passwd", vault, "--recovery-key-file", s.p("typo"), "--new-password-file", s.p("pw2")])
        #expect(bad.code == SottoError.ExitCode.passwordInput && bad.err.contains("typo"), "\(bad.err)")

        // Typed back in lower case with spaces: a new password is set, and it opens the vault.
        let typed = key.lowercased().replacingOccurrences(of: "-", with: " ")
        writeTestFile(atPath: s.p("rk"), contents: Data((typed + "\n").utf8))
        let ok = try CLI.run(["passwd", vault, "--recovery-key-file", s.p("rk"), "--new-password-file", s.p("pw2"),
                              "--kdf-memory", "1", "--kdf-time", "1"])
        #expect(ok.code == 0, "\(ok.err)")
        #expect(try CLI.run(["cat", vault, "/a.txt", "--password-file", s.p("pw2")]).stdout == "recovered")
        // A key of another vault is well-formed but opens nothing here.
        let other = try CLI.run(["init", s.p("other"), "--recovery-key", "--kdf-memory", "1", "--kdf-time", "1"] + s.pw)
        writeTestFile(atPath: s.p("rk2"), contents: Data((try #require(printedKey(other.stdout)) + "\n").utf8))
        let wrong = try CLI.run(["passwd", vault, "--recovery-key-file", s.p("rk2"), "--new-password-file", s.p("pw2")])
        #expect(wrong.code == SottoError.ExitCode.wrongPassword)
    }

    @Test func recoveryKeyCreateOnAnExistingVault() throws {
        let s = Scratch()
        let vault = try s.initVault()
        let r = try CLI.run(["recovery-key", "create", vault] + s.pw)
        #expect(r.code == 0 && printedKey(r.stdout) != nil && r.stdout.contains("key slot 1"))
    }
}

@Suite struct MigrationTests {
    func makeSource(_ s: Scratch) throws -> (String, [String: Data]) {
        let src = s.p("Interviews")
        try FileManager.default.createDirectory(atPath: src + "/2026/audio", withIntermediateDirectories: true)
        var files: [String: Data] = [:]
        for i in 0..<12 { files["2026/session-\(i).txt"] = Data("migrated transcript number \(i) of the panel\n".utf8) }
        files["2026/audio/session-0.wav"] = wavFile(seconds: 0.3)
        files["notes.md"] = Data((0..<2000).map { _ in UInt8.random(in: 0...255) })
        for (rel, data) in files { writeTestFile(atPath: src + "/" + rel, contents: data) }
        return (src, files)
    }

    @Test func moveAFolderInAndNothingPlaintextRemains() throws {
        let s = Scratch()
        let vault = try s.initVault()
        let (src, files) = try makeSource(s)
        let r = try CLI.run(["import", vault, src, "--remove-source"] + s.pw)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.stdout.contains("moved 14 files"))
        #expect(!FileManager.default.fileExists(atPath: src))
        for (rel, data) in files {
            let out = try CLI.run(["cat", vault, "/Interviews/" + rel] + s.pw)
            #expect(Data(out.out) == data, "\(rel)")
        }
    }

    @Test func anInterruptedMigrationResumesWithoutDuplicates() throws {
        let s = Scratch()
        let vault = try s.initVault()
        let (src, files) = try makeSource(s)
        // The state an interrupted run leaves: everything copied, some originals already removed,
        // and one file that arrived since.
        #expect(try CLI.run(["import", vault, src] + s.pw).code == 0)
        try FileManager.default.removeItem(atPath: src + "/2026/session-3.txt")
        try FileManager.default.removeItem(atPath: src + "/2026/session-4.txt")
        writeTestFile(atPath: src + "/2026/late.txt", contents: Data("arrived later".utf8))
        let r = try CLI.run(["import", vault, src, "--remove-source"] + s.pw)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.stdout.contains("moved 13 files") && r.stdout.contains("12 already in the vault, unchanged"), "\(r.stdout)")
        #expect(!FileManager.default.fileExists(atPath: src))
        let listing = try CLI.run(["ls", vault, "/Interviews/2026"] + s.pw).stdout.split(separator: "\n")
        #expect(listing.count == 14)  // 12 sessions + late.txt + audio/, each once
        #expect(Set(listing).count == listing.count)
        #expect(try CLI.run(["cat", vault, "/Interviews/2026/late.txt"] + s.pw).stdout == "arrived later")
        #expect(Data(try CLI.run(["cat", vault, "/Interviews/notes.md"] + s.pw).out) == files["notes.md"])
    }

    @Test func aDifferentFileUnderTheSameNameStopsTheMoveAndKeepsTheOriginal() throws {
        let s = Scratch()
        let vault = try s.initVault()
        let src = s.p("one")
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        writeTestFile(atPath: src + "/a.txt", contents: Data("first".utf8))
        #expect(try CLI.run(["import", vault, src] + s.pw).code == 0)
        writeTestFile(atPath: src + "/a.txt", contents: Data("edited since".utf8))
        let r = try CLI.run(["import", vault, src, "--remove-source"] + s.pw)
        #expect(r.code == SottoError.ExitCode.exists && r.err.contains("nothing was replaced or removed"), "\(r.err)")
        #expect(FileManager.default.contents(atPath: src + "/a.txt") == Data("edited since".utf8))
    }
}

@Suite struct RekeyTests {
    /// A vault holding short and long names, a long-named folder, a symlink, and content of
    /// several sizes; returns the plaintext by vault path.
    func populate(_ s: Scratch, _ vault: String) throws -> [String: Data] {
        let src = s.p("Sessions")
        let long = String(repeating: "l", count: 200)
        try FileManager.default.createDirectory(atPath: src + "/" + long + "-folder/deep", withIntermediateDirectories: true)
        var files: [String: Data] = [:]
        for i in 0..<9 { files["session-\(i).txt"] = Data("rekeyed transcript \(i)\n".utf8) }
        files[long + ".txt"] = Data("a long name".utf8)
        files[long + "-folder/deep/audio.wav"] = wavFile(seconds: 0.3)
        files["empty"] = Data()
        for (rel, data) in files { writeTestFile(atPath: src + "/" + rel, contents: data) }
        try FileManager.default.createSymbolicLink(atPath: src + "/latest", withDestinationPath: "session-8.txt")
        #expect(try CLI.run(["import", vault, src] + s.pw).code == 0)
        return Dictionary(uniqueKeysWithValues: files.map { ("/Sessions/" + $0.key, $0.value) })
    }

    func expectAll(_ files: [String: Data], in vault: String, password: [String]) throws {
        for (path, data) in files {
            let r = try CLI.run(["cat", vault, path] + password)
            #expect(r.code == 0 && Data(r.out) == data, "\(path): \(r.err)")
        }
        let link = try CLI.run(["ls", "-l", vault, "/Sessions"] + password)
        #expect(link.stdout.contains("latest -> session-8.txt"), "\(link.stdout)")
        let fsck = try CLI.run(["fsck", vault] + password)
        #expect(fsck.code == 0, "\(fsck.stdout)\(fsck.err)")
    }

    /// Content bytes of every backing file (after its header), to show none was re-encrypted.
    func contentBlocks(_ vault: String) -> [Data] {
        var out: [Data] = []
        for rel in FileManager.default.subpaths(atPath: vault) ?? [] {
            let p = vault + "/" + rel
            guard !rel.hasPrefix("sotto.conf"), !rel.hasSuffix("/" + BackingName.longNameFile), let attrs = try? FileManager.default.attributesOfItem(atPath: p),
                  attrs[.type] as? FileAttributeType == .typeRegular, let d = FileManager.default.contents(atPath: p),
                  d.count >= FileHeader.size else { continue }
            out.append(d.dropFirst(FileHeader.size))
        }
        return out.sorted { $0.lexicographicallyPrecedes($1) }
    }

    @Test func everythingStaysReadableAndAnOldConfigOpensNothing() throws {
        let s = Scratch()
        let vault = try s.initVault()
        let files = try populate(s, vault)
        #expect(try CLI.run(["key", "add", vault, "--new-password-file", s.p("pw2"), "--kdf-memory", "1", "--kdf-time", "1"] + s.pw).code == 0)
        let oldConfig = FileManager.default.contents(atPath: vault + "/sotto.conf")!
        let oldNames = Set(FileManager.default.subpaths(atPath: vault)!)
        let blocks = contentBlocks(vault)

        let r = try CLI.run(["rekey", vault, "--other-password-file", "1=" + s.p("pw2")] + s.pw)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.stdout.contains("12 file keys") && r.stdout.contains("1 symlink targets") && r.stdout.contains("key slots kept: 0, 1"), "\(r.stdout)")
        // Both passwords still open it; every name changed; no content block was rewritten.
        try expectAll(files, in: vault, password: s.pw)
        try expectAll(files, in: vault, password: ["--password-file", s.p("pw2")])
        let newNames = Set(FileManager.default.subpaths(atPath: vault)!)
        #expect(oldNames.intersection(newNames).allSatisfy { $0.hasPrefix("sotto.") || $0.hasSuffix("/name") || $0.hasSuffix("/data") || $0.contains("/sotto.dir.") || $0.hasSuffix("/sotto.dirid") },
                "\(oldNames.intersection(newNames))")
        #expect(contentBlocks(vault) == blocks)
        #expect(!FileManager.default.fileExists(atPath: vault + "/sotto.rekey.journal"))

        // The old config (a backup, a sync tool's history) still takes the old password, and opens nothing.
        let newConfig = FileManager.default.contents(atPath: vault + "/sotto.conf")!
        let backup = FileManager.default.contents(atPath: vault + "/sotto.conf.bak")!
        #expect(backup == newConfig)
        writeTestFile(atPath: vault + "/sotto.conf", contents: oldConfig)
        let fsck = try CLI.run(["fsck", vault] + s.pw)
        #expect(fsck.code == SottoError.ExitCode.damageFound && fsck.stdout.contains("0 files"), "\(fsck.stdout)")
        #expect(try CLI.run(["ls", vault, "/"] + s.pw).stdout.isEmpty)
        writeTestFile(atPath: vault + "/sotto.conf", contents: newConfig)
    }

    @Test func refusalsChangeNothing() throws {
        let s = Scratch()
        let vault = try s.initVault()
        _ = try populate(s, vault)
        #expect(try CLI.run(["key", "add", vault, "--new-password-file", s.p("pw2"), "--kdf-memory", "1", "--kdf-time", "1"] + s.pw).code == 0)
        let before = s.snapshot(vault)
        writeTestFile(atPath: s.p("bad"), contents: Data("not it\n".utf8))
        // Wrong password.
        let wrong = try CLI.run(["rekey", vault, "--drop-other-slots", "--password-file", s.p("bad")])
        #expect(wrong.code == SottoError.ExitCode.wrongPassword)
        // Another slot, no one to ask and no flag: refused before the password is even read.
        let unattended = try CLI.run(["rekey", vault] + s.pw, withoutTerminal: true)
        #expect(unattended.code == SottoError.ExitCode.keySlot && unattended.err.contains("--drop-other-slots"), "\(unattended.err)")
        // Unattended, with a file for slot 0 only while the password opens slot 0 itself: slot 1
        // is not dropped without being asked for.
        let unasked = try CLI.run(["rekey", vault, "--other-password-file", "0=" + s.p("pw")] + s.pw, withoutTerminal: true)
        #expect(unasked.code == SottoError.ExitCode.keySlot && unasked.err.contains("key slot 1 would be dropped"), "\(unasked.err)")
        // A slot that is not in use.
        let noSlot = try CLI.run(["rekey", vault, "--other-password-file", "5=" + s.p("pw2")] + s.pw)
        #expect(noSlot.code == SottoError.ExitCode.keySlot && noSlot.err.contains("slot 5"), "\(noSlot.err)")
        // A wrong password for the slot to keep.
        let wrongOther = try CLI.run(["rekey", vault, "--other-password-file", "1=" + s.p("bad")] + s.pw)
        #expect(wrongOther.code == SottoError.ExitCode.keySlot && wrongOther.err.contains("slot 1"), "\(wrongOther.err)")
        // In use (a mount holds this lock for as long as it runs).
        let fd = open(vault, O_RDONLY | O_DIRECTORY)
        #expect(flock(fd, LOCK_SH) == 0)
        let busy = try CLI.run(["rekey", vault, "--drop-other-slots"] + s.pw)
        close(fd)
        #expect(busy.code == SottoError.ExitCode.busy && busy.err.contains("unmount"), "\(busy.err)")
        #expect(s.snapshot(vault) == before)
        // Dropping slots on request: the other password stops working.
        #expect(try CLI.run(["rekey", vault, "--drop-other-slots"] + s.pw).code == 0)
        #expect(try CLI.run(["ls", vault, "/", "--password-file", s.p("pw2")]).code == SottoError.ExitCode.wrongPassword)
    }

    /// Interrupted after some renames, mid-way through header rewrites, and with a header torn in
    /// half: the vault refuses everything but `rekey` until a rerun finishes, and then nothing is lost.
    @Test(arguments: ["rename:4", "rename:11", "header:1", "header:7", "tear:3"])
    func anInterruptedRekeyFinishesWhenRunAgain(_ interruption: String) throws {
        let s = Scratch()
        let vault = try s.initVault()
        let files = try populate(s, vault)
        let oldConfig = FileManager.default.contents(atPath: vault + "/sotto.conf")!
        let cut = try CLI.run(["rekey", vault] + s.pw, environment: ["SOTTO_TEST_REKEY_INTERRUPT": interruption])
        #expect(cut.code == 75, "\(cut.err)")
        let blocked = try CLI.run(["cat", vault, "/Sessions/session-1.txt"] + s.pw)
        #expect(blocked.code == SottoError.ExitCode.rekeyInProgress && blocked.err.contains("sotto rekey"), "\(blocked.err)")
        #expect(try CLI.run(["info", vault]).stdout.contains("interrupted"))
        let rerun = try CLI.run(["rekey", vault] + s.pw)
        #expect(rerun.code == 0 && rerun.err.contains("finishing"), "\(rerun.err)")
        if interruption.hasPrefix("tear") { #expect(rerun.stdout.contains("put back 1 file header"), "\(rerun.stdout)") }
        // Nothing wrapped under the old key is left behind: no journal, no temporary.
        #expect(try FileManager.default.contentsOfDirectory(atPath: vault).filter { $0.hasPrefix("sotto.rekey") }.isEmpty)
        try expectAll(files, in: vault, password: s.pw)
        writeTestFile(atPath: vault + "/sotto.conf", contents: oldConfig)
        #expect(try CLI.run(["ls", vault, "/"] + s.pw).stdout.isEmpty)
    }
}

/// Slot labels from the command line (issue 18, item 4): set at init/key add/recovery-key create,
/// changed by `key label`, shown by `key list` (escaped), named by `key remove`, refused when
/// hostile, and authenticated by `key list --verify`.
@Suite struct KeySlotLabelTests {
    @Test func labelsAreShownChangedAndAuthenticated() throws {
        let s = Scratch()
        let vault = s.p("vault")
        let kdf = ["--kdf-memory", "1", "--kdf-time", "1"]
        #expect(try CLI.run(["init", vault, "--label", "laptop"] + kdf + s.pw).code == 0)
        let added = try CLI.run(["key", "add", vault, "--new-password-file", s.p("pw2"), "--label", "old phone"] + kdf + s.pw)
        #expect(added.code == 0 && added.stdout.contains("added key slot 1 'old phone'"), "\(added.stdout)\(added.err)")
        let recovery = try CLI.run(["recovery-key", "create", vault, "--label", "in the safe"] + s.pw)
        #expect(recovery.code == 0, "\(recovery.err)")
        let list = try CLI.run(["key", "list", vault]).stdout
        #expect(list.contains("slot 0 'laptop': password") && list.contains("slot 1 'old phone': password")
                && list.contains("slot 2 'in the safe': recovery key"), "\(list)")

        // Refused before any password is asked for, nothing written.
        let config = try #require(FileManager.default.contents(atPath: vault + "/sotto.conf"))
        for bad in ["evil\u{1B}[31m", "x\u{202E}gpj.exe", String(repeating: "y", count: 65), " lead"] {
            let r = try CLI.run(["key", "label", vault, "0", bad], stdin: "")
            #expect(r.code == SottoError.ExitCode.usage && r.err.contains("the label"), "\(r.err)")
        }
        let taken = try CLI.run(["key", "label", vault, "0", "old phone"] + s.pw)
        #expect(taken.code == SottoError.ExitCode.usage && taken.err.contains("already has the label"), "\(taken.err)")
        #expect(FileManager.default.contents(atPath: vault + "/sotto.conf") == config)

        let relabel = try CLI.run(["key", "label", vault, "1", "phone, lost 2026-11"] + s.pw)
        #expect(relabel.code == 0 && relabel.stdout.contains("key slot 1 is labelled 'phone, lost 2026-11'"), "\(relabel.stdout)\(relabel.err)")
        let json = try JSONSerialization.jsonObject(with: Data(try CLI.run(["key", "list", vault, "--json"]).stdout.utf8)) as! [String: Any]
        #expect((json["slots"] as! [[String: Any]]).map { $0["label"] as! String } == ["laptop", "phone, lost 2026-11", "in the safe"])
        #expect(json["labelsVerified"] as? Bool == false)

        // Someone who can write the vault directory swaps two labels and fixes the unkeyed
        // checksum: the plain listing shows the swap, --verify and every unlock refuse it.
        let good = try #require(FileManager.default.contents(atPath: vault + "/sotto.conf"))
        var c = try Vault.readConfig(at: vault)
        (c.slots[0].label, c.slots[1].label) = (c.slots[1].label, c.slots[0].label)
        c.checksum = try Digest.sha256(c.canonicalBytes)
        writeTestFile(atPath: vault + "/sotto.conf", contents: Data(c.serialized()))
        #expect(try CLI.run(["key", "list", vault]).stdout.contains("slot 0 'phone, lost 2026-11'"))
        let verify = try CLI.run(["key", "list", vault, "--verify"] + s.pw)
        #expect(verify.code == SottoError.ExitCode.configDamaged && verify.err.contains("MAC"), "\(verify.err)")
        #expect(try CLI.run(["key", "remove", vault, "1"] + s.pw).code == SottoError.ExitCode.configDamaged)
        writeTestFile(atPath: vault + "/sotto.conf", contents: good)

        let verified = try CLI.run(["key", "list", vault, "--verify"] + s.pw)
        #expect(verified.code == 0 && verified.stdout.contains("labels authenticated"), "\(verified.err)")
        let removed = try CLI.run(["key", "remove", vault, "1"] + s.pw)
        #expect(removed.code == 0 && removed.stdout.contains("removed key slot 1 'phone, lost 2026-11'"), "\(removed.stdout)")
        #expect(try CLI.run(["key", "label", vault, "0", ""] + s.pw).stdout.contains("key slot 0 has no label now"))
        #expect(try CLI.run(["key", "list", vault]).stdout.contains("slot 0: password"))
    }

    /// A format v3 vault becomes v5 when a slot is labelled, and says so.
    @Test func labellingAVersion3VaultMovesItTo5() throws {
        let s = Scratch()
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("SottoCoreTests/Fixtures").path
        let vault = s.p("v3")
        try FileManager.default.copyItem(atPath: fixtures + "/vault-v3", toPath: vault)
        writeTestFile(atPath: s.p("v3pw"), contents: Data("sotto-fixture-v3\n".utf8))
        #expect(try CLI.run(["info", vault]).stdout.contains("makes it v7: key slots can have labels, sparse files"))
        let r = try CLI.run(["key", "label", vault, "0", "desk", "--password-file", s.p("v3pw")])
        #expect(r.code == 0 && r.err.contains("now format v5") && r.err.contains("exit 13"), "\(r.err)")
        #expect(try Vault.readConfig(at: vault).version == 5)
        #expect(try CLI.run(["info", vault]).stdout.contains("slot 0 'desk': password"))
    }
}
