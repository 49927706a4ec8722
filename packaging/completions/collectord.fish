# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_collectord_global_optspecs
    string join \n config= check-config listen= data-dir= h/help V/version
end

function __fish_collectord_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_collectord_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_collectord_using_subcommand
    set -l cmd (__fish_collectord_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c collectord -n "__fish_collectord_needs_command" -l config -d 'Config file (TOML). Without this flag /etc/collectord/collectord.toml is read if it exists' -r -F
complete -c collectord -n "__fish_collectord_needs_command" -l listen -d 'Address to listen on (overrides `listen` in the config file)' -r
complete -c collectord -n "__fish_collectord_needs_command" -l data-dir -d 'Directory for the index and the archive (overrides `data-dir`)' -r -F
complete -c collectord -n "__fish_collectord_needs_command" -l check-config -d 'Check the config file and exit: 0 when it is valid, 78 when not'
complete -c collectord -n "__fish_collectord_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c collectord -n "__fish_collectord_needs_command" -s V -l version -d 'Print version'
complete -c collectord -n "__fish_collectord_needs_command" -f -a "train" -d 'Train the anomaly detectors on the index over a time range, and write DATA_DIR/model.json (the daemon reads it at start and within a second of a change; it also retrains by itself every `retrain-hours`)'
complete -c collectord -n "__fish_collectord_needs_command" -f -a "replay" -d 'Run the detectors over log files offline, as the daemon runs them, with each line\'s own timestamp as the clock, and print one JSON object per anomaly'
complete -c collectord -n "__fish_collectord_needs_command" -f -a "tls" -d 'A certificate authority for TLS between agents and the collector: `tls init` makes it, `tls issue` signs a key and certificate for the collector or for one agent and prints the config lines'
complete -c collectord -n "__fish_collectord_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c collectord -n "__fish_collectord_using_subcommand train" -l since -d 'Start of the range: a date (2026-11-01), an RFC 3339 time, or an age such as 7d or 12h. Default: `train-days` before the newest stored line (or before now when --until is given)' -r
complete -c collectord -n "__fish_collectord_using_subcommand train" -l until -d 'End of the range (same forms). Default: the newest stored line (now when --since is given)' -r
complete -c collectord -n "__fish_collectord_using_subcommand train" -l output -d 'Write the model here instead of DATA_DIR/model.json' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand train" -l config -d 'Config file (TOML). Without this flag /etc/collectord/collectord.toml is read if it exists' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand train" -l data-dir -d 'Directory for the index and the archive (overrides `data-dir`)' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand train" -s h -l help -d 'Print help'
complete -c collectord -n "__fish_collectord_using_subcommand replay" -l train -d 'Train on this file first (no labels are read); repeat for more' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand replay" -l model -d 'Start from this model (a collectord model.json); with --train, the training starts from its templates' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand replay" -l save-model -d 'Write the model used (after --train) here' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand replay" -l session-regex -d 'Lines sharing this expression\'s first capture group (or whole match) are a session, scored when it ends: e.g. \'blk_-?[0-9]+\'' -r
complete -c collectord -n "__fish_collectord_using_subcommand replay" -l session-idle -d 'A session ends after this many seconds without a line; 0 (the default): at the end of the input. The daemon has no end, and uses `session-idle-secs`' -r
complete -c collectord -n "__fish_collectord_using_subcommand replay" -l seed -d 'Seed of the Isolation Forests' -r
complete -c collectord -n "__fish_collectord_using_subcommand replay" -l config -d 'Config file (TOML). Without this flag /etc/collectord/collectord.toml is read if it exists' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand replay" -l data-dir -d 'Directory for the index and the archive (overrides `data-dir`)' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand replay" -l sequence-model -d 'With --session-regex and --train: also train the LSTM sequence model (DeepLog: an event it did not expect makes its session an anomaly) and judge sessions with it'
complete -c collectord -n "__fish_collectord_using_subcommand replay" -l per-line -d 'Print -1 (anomaly) or 1 per input line: the per-line Isolation Forest over TF-IDF. Needs --train or --model'
complete -c collectord -n "__fish_collectord_using_subcommand replay" -l templates -d 'Print LINE<TAB>TEMPLATE_ID<TAB>TEMPLATE per input line'
complete -c collectord -n "__fish_collectord_using_subcommand replay" -s h -l help -d 'Print help'
complete -c collectord -n "__fish_collectord_using_subcommand tls; and not __fish_seen_subcommand_from init issue help" -l config -d 'Config file (TOML). Without this flag /etc/collectord/collectord.toml is read if it exists' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand tls; and not __fish_seen_subcommand_from init issue help" -l data-dir -d 'Directory for the index and the archive (overrides `data-dir`)' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand tls; and not __fish_seen_subcommand_from init issue help" -s h -l help -d 'Print help'
complete -c collectord -n "__fish_collectord_using_subcommand tls; and not __fish_seen_subcommand_from init issue help" -f -a "init" -d 'Make a CA: DIR/ca.key (mode 0600) and DIR/ca.crt. Refuses to replace an existing one'
complete -c collectord -n "__fish_collectord_using_subcommand tls; and not __fish_seen_subcommand_from init issue help" -f -a "issue" -d 'Sign a new key and certificate with DIR\'s CA, for the collector (--server) or one agent (--agent); its DNS name is NAME'
complete -c collectord -n "__fish_collectord_using_subcommand tls; and not __fish_seen_subcommand_from init issue help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from init" -l dir -d 'The directory of the CA (created if missing)' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from init" -l days -d 'Days the CA certificate is valid' -r
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from init" -l config -d 'Config file (TOML). Without this flag /etc/collectord/collectord.toml is read if it exists' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from init" -l data-dir -d 'Directory for the index and the archive (overrides `data-dir`)' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from issue" -l dir -d 'The directory of the CA (`tls init`)' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from issue" -l name -d 'The certificate\'s DNS name: the collector\'s host name as agents write it (--server), or the agent\'s agent-id (--agent)' -r
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from issue" -l san -d 'Another name (DNS name or IP address) of the collector; repeat for more' -r
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from issue" -l days -d 'Days the certificate is valid' -r
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from issue" -l out -d 'Write PREFIX.key and PREFIX.crt (default: DIR/NAME)' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from issue" -l config -d 'Config file (TOML). Without this flag /etc/collectord/collectord.toml is read if it exists' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from issue" -l data-dir -d 'Directory for the index and the archive (overrides `data-dir`)' -r -F
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from issue" -l server -d 'A certificate for collectord\'s tls-cert'
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from issue" -l agent -d 'A certificate for an agent\'s tls-cert'
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from issue" -s h -l help -d 'Print help'
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from help" -f -a "init" -d 'Make a CA: DIR/ca.key (mode 0600) and DIR/ca.crt. Refuses to replace an existing one'
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from help" -f -a "issue" -d 'Sign a new key and certificate with DIR\'s CA, for the collector (--server) or one agent (--agent); its DNS name is NAME'
complete -c collectord -n "__fish_collectord_using_subcommand tls; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c collectord -n "__fish_collectord_using_subcommand help; and not __fish_seen_subcommand_from train replay tls help" -f -a "train" -d 'Train the anomaly detectors on the index over a time range, and write DATA_DIR/model.json (the daemon reads it at start and within a second of a change; it also retrains by itself every `retrain-hours`)'
complete -c collectord -n "__fish_collectord_using_subcommand help; and not __fish_seen_subcommand_from train replay tls help" -f -a "replay" -d 'Run the detectors over log files offline, as the daemon runs them, with each line\'s own timestamp as the clock, and print one JSON object per anomaly'
complete -c collectord -n "__fish_collectord_using_subcommand help; and not __fish_seen_subcommand_from train replay tls help" -f -a "tls" -d 'A certificate authority for TLS between agents and the collector: `tls init` makes it, `tls issue` signs a key and certificate for the collector or for one agent and prints the config lines'
complete -c collectord -n "__fish_collectord_using_subcommand help; and not __fish_seen_subcommand_from train replay tls help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c collectord -n "__fish_collectord_using_subcommand help; and __fish_seen_subcommand_from tls" -f -a "init" -d 'Make a CA: DIR/ca.key (mode 0600) and DIR/ca.crt. Refuses to replace an existing one'
complete -c collectord -n "__fish_collectord_using_subcommand help; and __fish_seen_subcommand_from tls" -f -a "issue" -d 'Sign a new key and certificate with DIR\'s CA, for the collector (--server) or one agent (--agent); its DNS name is NAME'
