import SottoCore
import Testing
@testable import SottoFUSE

/// Reading /proc/PID/fdinfo of an inotify descriptor: `sdev` is the kernel's dev_t (major above
/// bit 20), not userspace's encoding, which differs once the minor number passes 255.
@Suite struct InotifyWatchersTests {
    let fdinfo = """
        pos:\t0
        flags:\t00
        mnt_id:\t15
        ino:\t1057
        inotify wd:2 ino:1 sdev:34 mask:fc6 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:0100000000000000
        inotify wd:1 ino:3e8 sdev:80012c mask:fc6 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:e803000000000000
        """

    @Test func watchesAreMatchedByTheKernelsDeviceNumber() {
        #expect(InotifyWatchers.watches(fdinfo, Mounts.Device(major: 0, minor: 52)))     // sdev 0x34
        #expect(InotifyWatchers.watches(fdinfo, Mounts.Device(major: 8, minor: 300)))    // sdev 0x80012c
        #expect(!InotifyWatchers.watches(fdinfo, Mounts.Device(major: 0, minor: 300)))
        #expect(!InotifyWatchers.watches(fdinfo, Mounts.Device(major: 0, minor: 44)))    // 0x2c: a userspace-encoding mix-up
        #expect(!InotifyWatchers.watches("pos:\t0\nflags:\t02\n", Mounts.Device(major: 0, minor: 52)))
    }
}
