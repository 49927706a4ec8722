complete -c agentd -l config -d 'Configuration file [default: /etc/agentd/agentd.toml; built-in defaults are used when that file does not exist]' -r -F
complete -c agentd -l check-config -d 'Validate the configuration and exit: 0 when it is valid, 78 otherwise'
complete -c agentd -s h -l help -d 'Print help (see more with \'--help\')'
complete -c agentd -s V -l version -d 'Print version'
