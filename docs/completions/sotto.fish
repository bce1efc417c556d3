function __sotto_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __sotto_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __sotto_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __sotto_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __sotto_parse_tokens -S
    set -l unparsed_tokens (__sotto_tokens -pc)
    switch $unparsed_tokens[1]
    case 'sotto'
        __sotto_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'init'
            __sotto_parse_subcommand 1 'password-file=' 'password-stdin' 'extpass=' 'weak-password-ok' 'kdf-memory=' 'kdf-time=' 'block-size=' 'recovery-key' 'label=' 'version' 'h/help'
        case 'passwd'
            __sotto_parse_subcommand 1 'password-file=' 'password-stdin' 'extpass=' 'weak-password-ok' 'kdf-memory=' 'kdf-time=' 'new-password-file=' 'recovery-key' 'recovery-key-file=' 'version' 'h/help'
        case 'info'
            __sotto_parse_subcommand 1 'json' 'version' 'h/help'
        case 'upgrade'
            __sotto_parse_subcommand 1 'password-file=' 'password-stdin' 'extpass=' 'version' 'h/help'
        case 'mount'
            __sotto_parse_subcommand 2 'password-file=' 'password-stdin' 'extpass=' 'foreground' 'read-only' 'shared' 'allow-other' 'no-io-uring' 'nonempty' 'no-xattr' 'log=' 'idle=' 'version' 'h/help'
        case 'unmount'
            __sotto_parse_subcommand 1 'lazy' 'version' 'h/help'
        case 'status'
            __sotto_parse_subcommand 0 'json' 'version' 'h/help'
        case 'fsck'
            __sotto_parse_subcommand 1 'json' 'quarantine' 'password-file=' 'password-stdin' 'extpass=' 'version' 'h/help'
        case 'key'
            __sotto_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'list'
                __sotto_parse_subcommand 1 'json' 'verify' 'password-file=' 'password-stdin' 'extpass=' 'version' 'h/help'
            case 'add'
                __sotto_parse_subcommand 1 'password-file=' 'password-stdin' 'extpass=' 'weak-password-ok' 'kdf-memory=' 'kdf-time=' 'label=' 'new-password-file=' 'version' 'h/help'
            case 'remove'
                __sotto_parse_subcommand 2 'password-file=' 'password-stdin' 'extpass=' 'version' 'h/help'
            case 'label'
                __sotto_parse_subcommand 3 'password-file=' 'password-stdin' 'extpass=' 'version' 'h/help'
            end
        case 'recovery-key'
            __sotto_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'create'
                __sotto_parse_subcommand 1 'password-file=' 'password-stdin' 'extpass=' 'label=' 'version' 'h/help'
            case 'verify'
                __sotto_parse_subcommand 1 'recovery-key-file=' 'version' 'h/help'
            end
        case 'rekey'
            __sotto_parse_subcommand 1 'password-file=' 'password-stdin' 'extpass=' 'other-password-file=+' 'drop-other-slots' 'version' 'h/help'
        case 'import'
            __sotto_parse_subcommand -r 2 'to=' 'remove-source' 'update' 'password-file=' 'password-stdin' 'extpass=' 'version' 'h/help'
        case 'export'
            __sotto_parse_subcommand 3 'password-file=' 'password-stdin' 'extpass=' 'version' 'h/help'
        case 'cat'
            __sotto_parse_subcommand 2 'password-file=' 'password-stdin' 'extpass=' 'version' 'h/help'
        case 'ls'
            __sotto_parse_subcommand 2 'l' 'password-file=' 'password-stdin' 'extpass=' 'version' 'h/help'
        case 'help'
            __sotto_parse_subcommand -r 1 'version'
        end
    end
end

function __sotto_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __sotto_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __sotto_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __sotto_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__sotto_tokens -p)
    if test -z "$(__sotto_tokens -t)"
        set -l index (count (__sotto_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'sotto' -f
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'init' -d 'Create a vault in a new or empty directory.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'passwd' -d 'Change the vault password (rewraps the master key; no data is re-encrypted).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'info' -d 'Show a vault\'s format and key slots (no password needed, no secrets shown).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'upgrade' -d 'Bring a vault to format v7 (from v1: files open by name without listing their folder; from v3: key slot labels; from v5: sparse files).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'mount' -d 'Show the vault, decrypted, as an ordinary folder (FUSE).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'unmount' -d 'Unmount a mounted vault; open data is already on disk.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'status' -d 'Show your mounted vaults.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'fsck' -d 'Check every name, file header, block and symlink of a vault; change nothing.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'key' -d 'Manage key slots: up to 8 passwords, each with its own KDF cost, for one vault.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'recovery-key' -d 'Recovery keys: a written-down key that sets a new password when the old one is forgotten.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'rekey' -d 'Rotate the master key: re-wrap every file key and re-encrypt every name, without re-encrypting content.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'import' -d 'Encrypt existing files and folders into the vault (without mounting it).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'export' -d 'Decrypt a file or folder from the vault to a plaintext destination.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'cat' -d 'Write a vault file\'s plaintext to standard output.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'ls' -d 'List a folder of the vault (decrypted names).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto init" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto init" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto init" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto init" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto init" weak-password-ok' -l 'weak-password-ok' -d 'Accept a new password shorter than 8 characters (throwaway vaults, tests).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto init" kdf-memory' -l 'kdf-memory' -d 'Argon2id memory in MiB (default 64; at least 1).' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto init" kdf-time' -l 'kdf-time' -d 'Argon2id passes (default 3; 1 to 64).' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto init" block-size' -l 'block-size' -d 'Plaintext bytes per encrypted block: 4096, 8192, 16384 (default), 32768 or 65536.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto init" recovery-key' -l 'recovery-key' -d 'Also make a recovery key (shown once) for when the password is forgotten.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto init" label' -l 'label' -d 'Name the new key slot (e.g. "laptop", "recovery key in the safe"); shown by \'sotto key list\'.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto init" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto init" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto passwd" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto passwd" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto passwd" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto passwd" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto passwd" weak-password-ok' -l 'weak-password-ok' -d 'Accept a new password shorter than 8 characters (throwaway vaults, tests).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto passwd" kdf-memory' -l 'kdf-memory' -d 'Argon2id memory in MiB (default 64; at least 1).' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto passwd" kdf-time' -l 'kdf-time' -d 'Argon2id passes (default 3; 1 to 64).' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto passwd" new-password-file' -l 'new-password-file' -d 'Read the new password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto passwd" recovery-key' -l 'recovery-key' -d 'Unlock with the recovery key instead of the password (asked for, or --recovery-key-file); the new password goes into a new key slot.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto passwd" recovery-key-file' -l 'recovery-key-file' -d 'Read the recovery key from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto passwd" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto passwd" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto info" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto info" json' -l 'json' -d 'Print as JSON (schema 1).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto info" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto info" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto upgrade" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto upgrade" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto upgrade" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto upgrade" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto upgrade" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto upgrade" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto mount" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto mount" -eq 2' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" foreground' -l 'foreground' -d 'Stay in the foreground (logs also on stderr); Ctrl-C unmounts.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" read-only' -l 'read-only' -d 'Mount read-only.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" shared' -l 'shared' -d 'The vault directory is also written by a sync tool (Syncthing, rclone): show its changes within a second, and fail an open file it changes (docs/sync.md).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" allow-other' -l 'allow-other' -d 'Let other users in (the kernel checks file modes for them); needs root or user_allow_other in /etc/fuse.conf.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" no-io-uring' -l 'no-io-uring' -d 'Take requests through /dev/fuse even where the kernel offers FUSE over io_uring (docs/architecture.md).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" nonempty' -l 'nonempty' -d 'Mount even over a folder that is not empty (what it holds is hidden while mounted).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" no-xattr' -l 'no-xattr' -d 'No extended attributes: the kernel then stops asking for one before every write, which makes many small writes (a database\'s pages) faster (docs/architecture.md).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" log' -l 'log' -d 'Write diagnostics to FILE (mode 0600) instead of syslog.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" idle' -l 'idle' -d 'Unmount after this long with no open file, no access and no program watching the folder (e.g. 15m, 1h30m, 90s).' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto mount" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto unmount" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto unmount" lazy' -l 'lazy' -d 'Detach now even if busy; the filesystem ends when the last user leaves.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto unmount" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto unmount" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto status" json' -l 'json' -d 'Print as JSON.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto status" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto fsck" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto fsck" json' -l 'json' -d 'Print the report as JSON (for scripts).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto fsck" quarantine' -l 'quarantine' -d 'Move damaged entries aside into VAULT/sotto.quarantine/ (never deletes).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto fsck" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto fsck" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto fsck" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto fsck" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto fsck" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto key" -eq 1' -fa 'list' -d 'List the key slots (no password needed; --verify authenticates the labels).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto key" -eq 1' -fa 'add' -d 'Add a password in a new slot (an existing password unlocks the vault first).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto key" -eq 1' -fa 'remove' -d 'Remove a key slot (never the last one); any slot\'s password authorizes it.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto key" -eq 1' -fa 'label' -d 'Name a key slot, or with "" remove its name; any slot\'s password authorizes it.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto key list" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key list" json' -l 'json' -d 'Print as JSON (schema 1).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key list" verify' -l 'verify' -d 'Ask for a password and authenticate the labels before listing (implied by a password source).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key list" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key list" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key list" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key list" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key list" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto key add" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key add" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key add" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key add" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key add" weak-password-ok' -l 'weak-password-ok' -d 'Accept a new password shorter than 8 characters (throwaway vaults, tests).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key add" kdf-memory' -l 'kdf-memory' -d 'Argon2id memory in MiB (default 64; at least 1).' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key add" kdf-time' -l 'kdf-time' -d 'Argon2id passes (default 3; 1 to 64).' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key add" label' -l 'label' -d 'Name the new key slot (e.g. "laptop", "recovery key in the safe"); shown by \'sotto key list\'.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key add" new-password-file' -l 'new-password-file' -d 'Read the new password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key add" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key add" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto key remove" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key remove" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key remove" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key remove" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key remove" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key remove" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto key label" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key label" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key label" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key label" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key label" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto key label" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto recovery-key" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto recovery-key" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto recovery-key" -eq 1' -fa 'create' -d 'Add a recovery key in a new key slot and show it once.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto recovery-key" -eq 1' -fa 'verify' -d 'Check a written-down recovery key (nothing is changed).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto recovery-key create" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto recovery-key create" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto recovery-key create" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto recovery-key create" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto recovery-key create" label' -l 'label' -d 'Name the new key slot (e.g. "laptop", "recovery key in the safe"); shown by \'sotto key list\'.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto recovery-key create" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto recovery-key create" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto recovery-key verify" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto recovery-key verify" recovery-key-file' -l 'recovery-key-file' -d 'Read the key from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto recovery-key verify" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto recovery-key verify" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto rekey" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto rekey" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto rekey" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto rekey" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto rekey"' -l 'other-password-file' -d 'Keep key slot SLOT, whose password is the first line of FILE (repeatable).' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto rekey" drop-other-slots' -l 'drop-other-slots' -d 'Drop every key slot whose password is not given, without asking.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto rekey" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto rekey" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto import" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto import" -ge 2' -F
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto import" to' -l 'to' -d 'Vault folder to put them in (made if missing; default: the root).' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto import" remove-source' -l 'remove-source' -d 'Move the plaintext in: verify each file in the vault, then overwrite and delete the original. Rerun to resume.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto import" update' -l 'update' -d 'Replace files the vault holds under the same name with different content (otherwise they are listed and kept).'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto import" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto import" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto import" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto import" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto import" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto export" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto export" -eq 2' -F
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto export" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto export" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto export" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto export" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto export" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto cat" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto cat" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto cat" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto cat" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto cat" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto cat" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_positional "sotto ls" -eq 1' -fa '(__sotto_complete_directories)'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto ls" l' -s 'l' -d 'Long listing: type, mode, size, modification time.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto ls" password-file' -l 'password-file' -d 'Read the password from the first line of FILE.' -rF
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto ls" password-stdin' -l 'password-stdin' -d 'Read the password from the first line of standard input.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto ls" extpass' -l 'extpass' -d 'Run CMD (with /bin/sh) and use the first line it prints, e.g. a keyring or password manager.' -rfka ''
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto ls" version' -l 'version' -d 'Show the version.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto ls" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sotto' -n '__sotto_should_offer_completions_for_flags_or_options "sotto help" version' -l 'version' -d 'Show the version.'
