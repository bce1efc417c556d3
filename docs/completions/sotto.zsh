#compdef sotto

__sotto_complete() {
    local -ar non_empty_completions=("${@:#(|:*)}")
    local -ar empty_completions=("${(M)@:#(|:*)}")
    _describe -V '' non_empty_completions -- empty_completions -P $'\'\''
}

__sotto_custom_complete() {
    local -a completions
    completions=("${(@f)"$("${command_name}" "${@}" "${command_line[@]}")"}")
    if [[ "${#completions[@]}" -gt 1 ]]; then
        __sotto_complete "${completions[@]:0:-1}"
    fi
}

__sotto_cursor_index_in_current_word() {
    if [[ -z "${QIPREFIX}${IPREFIX}${PREFIX}" ]]; then
        printf 0
    else
        printf %s "${#${(z)LBUFFER}[-1]}"
    fi
}

_sotto() {
    emulate -RL zsh -G
    setopt extendedglob nullglob numericglobsort
    unsetopt aliases banghist

    local -xr SAP_SHELL=zsh
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(builtin emulate zsh -c 'printf %s "${ZSH_VERSION}"')"
    local -r SAP_SHELL_VERSION

    local context state state_descr line
    local -A opt_args

    local -r command_name="${words[1]}"
    local -ar command_line=("${words[@]}")
    local -ir current_word_index="$((CURRENT - 1))"

    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'init:Create a vault in a new or empty directory.'
            'passwd:Change the vault password (rewraps the master key; no data is re-encrypted).'
            'info:Show a vault'\''s format and key slots (no password needed, no secrets shown).'
            'upgrade:Bring a vault to format v7 (from v1: files open by name without listing their folder; from v3: key slot labels; from v5: sparse files).'
            'mount:Show the vault, decrypted, as an ordinary folder (FUSE).'
            'unmount:Unmount a mounted vault; open data is already on disk.'
            'status:Show your mounted vaults.'
            'fsck:Check every name, file header, block and symlink of a vault; change nothing.'
            'key:Manage key slots: up to 8 passwords, each with its own KDF cost, for one vault.'
            'recovery-key:Recovery keys: a written-down key that sets a new password when the old one is forgotten.'
            'rekey:Rotate the master key: re-wrap every file key and re-encrypt every name, without re-encrypting content.'
            'import:Encrypt existing files and folders into the vault (without mounting it).'
            'export:Decrypt a file or folder from the vault to a plaintext destination.'
            'cat:Write a vault file'\''s plaintext to standard output.'
            'ls:List a folder of the vault (decrypted names).'
            'help:Show subcommand help information.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        init|passwd|info|upgrade|mount|unmount|status|fsck|key|recovery-key|rekey|import|export|cat|ls|help)
            "_sotto_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_sotto_init() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--weak-password-ok[Accept a new password shorter than 8 characters (throwaway vaults, tests).]'
        '--kdf-memory[Argon2id memory in MiB (default 64; at least 1).]:MIB:'
        '--kdf-time[Argon2id passes (default 3; 1 to 64).]:N:'
        '--block-size[Plaintext bytes per encrypted block\: 4096, 8192, 16384 (default), 32768 or 65536.]:BYTES:'
        '--recovery-key[Also make a recovery key (shown once) for when the password is forgotten.]'
        '--label[Name the new key slot (e.g. "laptop", "recovery key in the safe"); shown by '\''sotto key list'\''.]:TEXT:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_passwd() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--weak-password-ok[Accept a new password shorter than 8 characters (throwaway vaults, tests).]'
        '--kdf-memory[Argon2id memory in MiB (default 64; at least 1).]:MIB:'
        '--kdf-time[Argon2id passes (default 3; 1 to 64).]:N:'
        '--new-password-file[Read the new password from the first line of FILE.]:FILE:_files'
        '--recovery-key[Unlock with the recovery key instead of the password (asked for, or --recovery-key-file); the new password goes into a new key slot.]'
        '--recovery-key-file[Read the recovery key from the first line of FILE.]:FILE:_files'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_info() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        '--json[Print as JSON (schema 1).]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_upgrade() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_mount() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        ':MOUNTPOINT:_files -/'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--foreground[Stay in the foreground (logs also on stderr); Ctrl-C unmounts.]'
        '--read-only[Mount read-only.]'
        '--shared[The vault directory is also written by a sync tool (Syncthing, rclone)\: show its changes within a second, and fail an open file it changes (docs/sync.md).]'
        '--allow-other[Let other users in (the kernel checks file modes for them); needs root or user_allow_other in /etc/fuse.conf.]'
        '--no-io-uring[Take requests through /dev/fuse even where the kernel offers FUSE over io_uring (docs/architecture.md).]'
        '--nonempty[Mount even over a folder that is not empty (what it holds is hidden while mounted).]'
        '--no-xattr[No extended attributes\: the kernel then stops asking for one before every write, which makes many small writes (a database'\''s pages) faster (docs/architecture.md).]'
        '--log[Write diagnostics to FILE (mode 0600) instead of syslog.]:FILE:_files'
        '--idle[Unmount after this long with no open file, no access and no program watching the folder (e.g. 15m, 1h30m, 90s).]:DURATION:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_unmount() {
    local -i ret=1
    local -ar arg_specs=(
        ':MOUNTPOINT:_files -/'
        '--lazy[Detach now even if busy; the filesystem ends when the last user leaves.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_status() {
    local -i ret=1
    local -ar arg_specs=(
        '--json[Print as JSON.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_fsck() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        '--json[Print the report as JSON (for scripts).]'
        '--quarantine[Move damaged entries aside into VAULT/sotto.quarantine/ (never deletes).]'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_key() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'list:List the key slots (no password needed; --verify authenticates the labels).'
            'add:Add a password in a new slot (an existing password unlocks the vault first).'
            'remove:Remove a key slot (never the last one); any slot'\''s password authorizes it.'
            'label:Name a key slot, or with "" remove its name; any slot'\''s password authorizes it.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        list|add|remove|label)
            "_sotto_key_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_sotto_key_list() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        '--json[Print as JSON (schema 1).]'
        '--verify[Ask for a password and authenticate the labels before listing (implied by a password source).]'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_key_add() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--weak-password-ok[Accept a new password shorter than 8 characters (throwaway vaults, tests).]'
        '--kdf-memory[Argon2id memory in MiB (default 64; at least 1).]:MIB:'
        '--kdf-time[Argon2id passes (default 3; 1 to 64).]:N:'
        '--label[Name the new key slot (e.g. "laptop", "recovery key in the safe"); shown by '\''sotto key list'\''.]:TEXT:'
        '--new-password-file[Read the new password from the first line of FILE.]:FILE:_files'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_key_remove() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        ':SLOT:'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_key_label() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        ':SLOT:'
        ':TEXT:'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_recovery-key() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'create:Add a recovery key in a new key slot and show it once.'
            'verify:Check a written-down recovery key (nothing is changed).'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        create|verify)
            "_sotto_recovery-key_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_sotto_recovery-key_create() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--label[Name the new key slot (e.g. "laptop", "recovery key in the safe"); shown by '\''sotto key list'\''.]:TEXT:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_recovery-key_verify() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        '--recovery-key-file[Read the key from the first line of FILE.]:FILE:_files'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_rekey() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '*--other-password-file[Keep key slot SLOT, whose password is the first line of FILE (repeatable).]:SLOT=FILE:'
        '--drop-other-slots[Drop every key slot whose password is not given, without asking.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_import() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        '*:SRC:_files'
        '--to[Vault folder to put them in (made if missing; default\: the root).]:DIR:'
        '--remove-source[Move the plaintext in\: verify each file in the vault, then overwrite and delete the original. Rerun to resume.]'
        '--update[Replace files the vault holds under the same name with different content (otherwise they are listed and kept).]'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_export() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        ':PATH:'
        ':DEST:_files'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_cat() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        ':PATH:'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_ls() {
    local -i ret=1
    local -ar arg_specs=(
        ':VAULT:_files -/'
        ':PATH:'
        '-l[Long listing\: type, mode, size, modification time.]'
        '--password-file[Read the password from the first line of FILE.]:FILE:_files'
        '--password-stdin[Read the password from the first line of standard input.]'
        '--extpass[Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.]:CMD:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sotto_help() {
    local -i ret=1
    local -ar arg_specs=(
        '*:subcommands:'
        '--version[Show the version.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

if [[ "${funcstack[1]}" = _sotto ]]; then
    _sotto "${@}"
else
    compdef _sotto sotto
fi
