complete -c collectord -l config -d 'Config file (TOML). Without this flag /etc/collectord/collectord.toml is read if it exists' -r -F
complete -c collectord -l listen -d 'Address to listen on (overrides `listen` in the config file)' -r
complete -c collectord -l data-dir -d 'Directory for the index and the archive (overrides `data-dir`)' -r -F
complete -c collectord -l check-config -d 'Check the config file and exit: 0 when it is valid, 78 when not'
complete -c collectord -s h -l help -d 'Print help (see more with \'--help\')'
complete -c collectord -s V -l version -d 'Print version'
